import uuid

import factory
from django.utils import timezone

from emails.constants import AttemptOutcome, DeliveryStatus
from emails.models import EmailAttempt, EmailNotification


class EmailNotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailNotification

    notification_id = factory.LazyFunction(uuid.uuid4)
    user_id = factory.LazyFunction(uuid.uuid4)
    recipient = factory.Sequence(lambda n: f"user{n}@example.com")
    template_code = "welcome"
    language = "en"
    status = DeliveryStatus.PENDING


class DeliveredEmailFactory(EmailNotificationFactory):
    status = DeliveryStatus.DELIVERED
    attempts = 1
    subject = "Welcome, Ada"
    template_version = 3
    sent_at = factory.LazyFunction(timezone.now)


class EmailAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailAttempt

    delivery = factory.SubFactory(EmailNotificationFactory)
    attempt_number = factory.Sequence(lambda n: n + 1)
    outcome = AttemptOutcome.SENT
