"""Serializer fields of the notification request: bounded JSON objects (variables,
metadata) and the strict RFC 3339 date-time of send_at."""

import json
import re
from datetime import datetime

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field(OpenApiTypes.OBJECT)
class BoundedJSONObjectField(serializers.Field):
    """A JSON object with at most NOTIFICATION_OBJECT_MAX_KEYS keys and MAX_BYTES serialized."""

    default_error_messages = {
        "not_object": "Must be a JSON object.",
        "too_many_keys": "Must have at most {max_keys} keys (got {keys}).",
        "too_large": "Must be at most {max_bytes} bytes as JSON (got {size}).",
    }

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_object")
        max_keys = settings.NOTIFICATION_OBJECT_MAX_KEYS
        if len(data) > max_keys:
            self.fail("too_many_keys", max_keys=max_keys, keys=len(data))
        max_bytes = settings.NOTIFICATION_OBJECT_MAX_BYTES
        size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if size > max_bytes:
            self.fail("too_large", max_bytes=max_bytes, size=size)
        return data

    def to_representation(self, value):
        return value


# RFC 3339 date-time: a full date and time with seconds and an explicit offset (or Z).
# Python's fromisoformat alone would also take a date, a naive time or the basic format.
_RFC3339_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?P<fraction>\.\d+)?(?P<offset>[Zz]|[+-]\d{2}:\d{2})$"
)


@extend_schema_field(OpenApiTypes.DATETIME)
class RFC3339DateTimeField(serializers.Field):
    """An RFC 3339 date-time with an offset or Z, as an aware datetime.

    Only the form is checked here; the window (future, at most NOTIFICATION_SEND_AT_MAX_DAYS
    ahead) is the service's, after the idempotency lookup.
    """

    default_error_messages = {
        "invalid": "Must be an RFC 3339 date-time with an offset or Z, such as 2026-12-01T18:30:00Z.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        match = _RFC3339_DATE_TIME.match(data)
        if not match:
            self.fail("invalid")
        text = data
        fraction = match.group("fraction")
        if fraction and len(fraction) > 7:  # Python keeps microseconds; RFC 3339 allows more digits
            text = text.replace(fraction, fraction[:7], 1)
        try:
            return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        except ValueError:  # 2026-02-30, hour 25, a leap second
            self.fail("invalid")

    def to_representation(self, value):
        return serializers.DateTimeField().to_representation(value)
