import uuid

import factory
from django.utils import timezone

from users.constants import Channel, DeliveryStatus, Platform
from users.models import Device, NotificationLog, Preferences, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    password = factory.django.Password(PASSWORD)
    preferences = factory.RelatedFactory("users.tests.factories.PreferencesFactory", factory_related_name="user")


class PreferencesFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Preferences

    user = factory.SubFactory(UserFactory, preferences=None)
    email = True
    push = True


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    user = factory.SubFactory(UserFactory)
    token = factory.Sequence(lambda n: f"fcm-token-{n}")
    platform = Platform.ANDROID
    last_seen = factory.LazyFunction(timezone.now)


class NotificationLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationLog

    notification_id = factory.LazyFunction(uuid.uuid4)
    user_id = factory.LazyFunction(uuid.uuid4)
    channel = Channel.EMAIL
    status = DeliveryStatus.DELIVERED
    attempts = 1
    last_timestamp = factory.LazyFunction(timezone.now)
