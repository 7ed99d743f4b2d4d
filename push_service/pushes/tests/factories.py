import uuid

import factory
from django.utils import timezone

from pushes.models import PushDeviceResult, PushNotification


class PushNotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PushNotification

    notification_id = factory.LazyFunction(uuid.uuid4)
    user_id = factory.LazyFunction(uuid.uuid4)
    template_code = "welcome"
    language = "en"
    version = 3
    title = "Hi Ada"
    body = "Welcome aboard, Ada!"
    rendered_at = factory.LazyFunction(timezone.now)
    status = PushNotification.Status.DELIVERED
    attempts = 1


class PushDeviceResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PushDeviceResult

    notification = factory.SubFactory(PushNotificationFactory)
    token = factory.Sequence(lambda n: f"tok-{n}")
    status = PushDeviceResult.Status.SENT
    message_id = factory.Sequence(lambda n: f"projects/p/messages/{n}")
    attempts = 1
