import json
import uuid

import factory
from django.contrib.auth import get_user_model

from notification_common.api_keys import hash_api_key
from platform_admin.constants import Channel
from platform_admin.models import ApiKey, DeadLetter

ADMIN_PASSWORD = "correct-horse-battery-staple"


class AdminFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"admin{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    is_staff = True
    is_superuser = True
    password = factory.PostGenerationMethodCall("set_password", ADMIN_PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ApiKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiKey
        exclude = ("raw",)

    raw = factory.Sequence(lambda n: f"nk_test_key_{n}_{uuid.uuid4().hex}")
    name = factory.Sequence(lambda n: f"key {n}")
    prefix = factory.LazyAttribute(lambda o: o.raw[:8])
    key_hash = factory.LazyAttribute(lambda o: hash_api_key(o.raw))
    scopes = factory.LazyFunction(lambda: ["notifications:send"])


class DeadLetterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeadLetter

    message_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    notification_id = factory.LazyAttribute(lambda o: o.message_id)
    channel = Channel.EMAIL
    original_queue = "email.queue"
    reason = "smtp: 550 mailbox unavailable"
    failure_kind = "permanent"
    attempts = 1
    history = factory.LazyFunction(list)
    headers = factory.LazyFunction(lambda: {"x-request-id": "trace-1"})
    body = factory.LazyAttribute(
        lambda o: json.dumps({"schema": 1, "notification_id": o.notification_id, "notification_type": o.channel})
    )
