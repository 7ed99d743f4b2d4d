"""Output shapes shared by several APIs (docs/architecture.md, "User service").

Input serializers live next to the API that uses them (apis.py).
"""

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from users.constants import DeliveryStatus
from users.models import NotificationLog, Preferences, User


class PreferencesSerializer(serializers.Serializer):
    email = serializers.BooleanField(required=False)
    push = serializers.BooleanField(required=False)


# Plain serializers with declared fields: the user lookup is the platform's hottest read, and
# ModelSerializer rebuilds its fields from the model on every instantiation.
class DeviceOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    token = serializers.CharField()
    platform = serializers.CharField()
    name = serializers.CharField()
    active = serializers.BooleanField()
    last_seen = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class UserPreferencesOutputSerializer(serializers.Serializer):
    email = serializers.BooleanField()
    push = serializers.BooleanField()


class UserOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    email = serializers.EmailField()
    is_active = serializers.BooleanField()
    preferences = serializers.SerializerMethodField()
    devices = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(UserPreferencesOutputSerializer)
    def get_preferences(self, user: User) -> dict:
        try:
            prefs = user.preferences
        except ObjectDoesNotExist:  # users made outside user_create (createsuperuser) get the defaults
            prefs = Preferences()
        return {"email": prefs.email, "push": prefs.push}

    @extend_schema_field(DeviceOutputSerializer(many=True))
    def get_devices(self, user: User) -> list[dict]:
        """Active devices only (the senders' view of the user)."""
        devices = getattr(user, "active_devices", None)
        if devices is None:
            devices = user.devices.filter(active=True)
        return DeviceOutputSerializer(devices, many=True).data


def _none_if_blank(value: str) -> str | None:
    return value or None


class NotificationLogOutputSerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()

    class Meta:
        model = NotificationLog
        fields = [
            "notification_id",
            "user_id",
            "channel",
            "status",
            "error",
            "attempts",
            "last_timestamp",
            "created_at",
            "updated_at",
        ]

    def get_error(self, log) -> str | None:
        return _none_if_blank(log.error)


class StatusEventOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.CHOICES)
    timestamp = serializers.DateTimeField()
    error = serializers.SerializerMethodField()
    attempt = serializers.IntegerField(allow_null=True)

    def get_error(self, event) -> str | None:
        return _none_if_blank(event.error)


class NotificationStatusOutputSerializer(NotificationLogOutputSerializer):
    history = StatusEventOutputSerializer(source="events", many=True)

    class Meta(NotificationLogOutputSerializer.Meta):
        fields = [*NotificationLogOutputSerializer.Meta.fields, "history"]
