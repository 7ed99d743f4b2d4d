"""Regression (fuzzing, issue 14): NUL or a lone surrogate in a status report's metadata was a
500 (PostgreSQL refuses NUL in jsonb). Now a 400 validation_error naming the field, nothing stored."""

import json
import uuid

import pytest

from notification_devtools.testing import assert_envelope
from users.models import NotificationLog

pytestmark = pytest.mark.django_db

EMAIL = "/api/v1/email/status/"


def _report(**extra) -> dict:
    return {
        "notification_id": str(uuid.uuid4()),
        "status": "delivered",
        "timestamp": "2026-11-24T01:00:00+00:00",
    } | extra


def _post_raw(client, body):
    return client.post(EMAIL, json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("value", ["smtp\x00", "\ud800"])
def test_unsafe_text_in_metadata_is_refused_naming_the_field(internal_client, value):
    response = _post_raw(internal_client, _report(metadata={"provider": {"reply": value}}))

    body = assert_envelope(response, status=400, error="validation_error")
    assert list(body["data"]) == ["metadata.provider.reply"]
    assert not NotificationLog.objects.exists()


def test_in_a_batch_the_field_is_named_by_its_position(internal_client):
    response = _post_raw(internal_client, [_report(), _report(error="timeout\x00")])

    body = assert_envelope(response, status=400, error="validation_error")
    assert body["data"] == {"1.error": ["Must not contain NUL characters (\\u0000)."]}
    assert not NotificationLog.objects.exists()
