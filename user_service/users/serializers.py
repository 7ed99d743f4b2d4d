"""Serializers shared by several APIs (docs/architecture.md, "User service"): the user as every
caller sees it, and the preferences object registration, PATCH users/me/ and sender-managed
users accept. The rest are nested in the API that uses them (InputSerializer, OutputSerializer).
"""

import re
from functools import lru_cache
from zoneinfo import available_timezones

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from users.models import Preferences, User

_CLOCK_TIME = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?$")


@lru_cache(maxsize=1)
def _iana_zones() -> frozenset[str]:
    return frozenset(available_timezones())


class QuietHoursSerializer(serializers.Serializer):
    """A daily window in the user's local time, "HH:MM" (or "HH:MM:SS"); it may span midnight."""

    start = serializers.CharField()
    end = serializers.CharField()

    def to_internal_value(self, data):
        if isinstance(data, dict) and set(data) - {"start", "end"}:
            raise serializers.ValidationError(f"Unknown keys: {sorted(set(data) - {'start', 'end'})}.")
        return super().to_internal_value(data)

    def _clock_time(self, value):
        if not _CLOCK_TIME.match(value):
            raise serializers.ValidationError('Must be a time of day "HH:MM", such as "22:00".')
        return value

    validate_start = _clock_time
    validate_end = _clock_time

    def validate(self, attrs):
        if attrs["start"] == attrs["end"]:
            raise serializers.ValidationError("start and end must differ.")
        return attrs


CATEGORY_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,48}[a-z0-9])?$")
MAX_CATEGORY_SWITCHES = 50


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "properties": {"email": {"type": "boolean"}, "push": {"type": "boolean"}},
            "additionalProperties": False,
            "minProperties": 1,
        },
        "maxProperties": 50,
        "example": {"marketing": {"email": False}},
    }
)
class CategorySwitchesField(serializers.Field):
    """``{"<category slug>": {"email": bool, "push": bool}}``: each error names its key."""

    default_error_messages = {"not_object": "Expected an object mapping category slugs to channel switches."}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_object")
        if len(data) > MAX_CATEGORY_SWITCHES:
            raise serializers.ValidationError(f"At most {MAX_CATEGORY_SWITCHES} categories.")
        errors: dict = {}
        clean: dict = {}
        for slug, switches in data.items():
            if not isinstance(slug, str) or not CATEGORY_SLUG.match(slug):
                errors[str(slug)] = ["Not a category slug (lowercase letters, digits, '-' and '_')."]
            elif not isinstance(switches, dict) or not switches:
                errors[slug] = ['Expected an object of channel switches, e.g. {"email": false}.']
            elif unknown := sorted(set(switches) - {"email", "push"}):
                errors[slug] = [f"Unknown channels: {unknown}; use email and push."]
            elif bad := sorted(channel for channel, on in switches.items() if not isinstance(on, bool)):
                errors[slug] = {channel: ["Must be true or false."] for channel in bad}
            else:
                clean[slug] = dict(switches)
        if errors:
            raise serializers.ValidationError(errors)
        return clean

    def to_representation(self, value):
        return value


class PreferencesSerializer(serializers.Serializer):
    email = serializers.BooleanField(required=False)
    push = serializers.BooleanField(required=False)
    timezone = serializers.CharField(required=False, max_length=64, help_text="IANA name, e.g. Europe/Lisbon.")
    quiet_hours = QuietHoursSerializer(required=False, allow_null=True, help_text="null turns them off.")
    categories = CategorySwitchesField(
        required=False,
        help_text='Per-category channel switches, e.g. {"marketing": {"email": false}}; merged into the stored ones.',
    )

    def validate_timezone(self, value):
        if value not in _iana_zones():
            raise serializers.ValidationError("Must be an IANA time zone name, such as Europe/Lisbon or UTC.")
        return value


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
    timezone = serializers.CharField()
    quiet_hours = QuietHoursSerializer(allow_null=True)
    categories = serializers.DictField(child=serializers.DictField(child=serializers.BooleanField()))


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
        return {
            "email": prefs.email,
            "push": prefs.push,
            "timezone": prefs.timezone,
            "quiet_hours": prefs.quiet_hours,
            "categories": prefs.categories or {},
        }

    @extend_schema_field(DeviceOutputSerializer(many=True))
    def get_devices(self, user: User) -> list[dict]:
        """Active devices only (the senders' view of the user)."""
        devices = getattr(user, "active_devices", None)
        if devices is None:
            devices = user.devices.filter(active=True)
        return DeviceOutputSerializer(devices, many=True).data
