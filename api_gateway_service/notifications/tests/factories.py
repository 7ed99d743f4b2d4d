import uuid

import factory

from notifications.constants import ROUTING_KEYS, NotificationType
from notifications.models import NotificationRequest, OutboxMessage


class NotificationRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationRequest

    sender = "key:bootstrap:test"
    idempotency_key = factory.Sequence(lambda n: f"request-{n}")
    request_hash = factory.LazyFunction(lambda: uuid.uuid4().hex * 2)
    notification_type = NotificationType.EMAIL
    user_id = factory.LazyFunction(uuid.uuid4)
    template_code = "welcome"
    language = "en"
    variables = factory.LazyFunction(lambda: {"name": "Ada"})
    priority = 5
    metadata = factory.LazyFunction(dict)
    trace_id = factory.LazyFunction(lambda: uuid.uuid4().hex)


class OutboxMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutboxMessage

    notification = factory.SubFactory(NotificationRequestFactory)
    routing_key = factory.LazyAttribute(lambda o: ROUTING_KEYS[o.notification.notification_type])
    body = factory.LazyAttribute(lambda o: {"schema": 1, "notification_id": str(o.notification.id)})
    headers = factory.LazyAttribute(lambda o: {"x-request-id": o.notification.trace_id})
    priority = 5
