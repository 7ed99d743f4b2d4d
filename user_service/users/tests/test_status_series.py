"""GET /api/v1/notifications/delivery-series/: final outcomes per minute for the dashboard."""

from datetime import UTC, datetime, timedelta

import pytest

from notification_devtools.testing import assert_envelope
from users.models import NotificationLog
from users.selectors import delivery_series
from users.tests.factories import NotificationLogFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 12, 30, 40, tzinfo=UTC)


def _final(status: str, at: datetime) -> None:
    log = NotificationLogFactory(status=status, last_timestamp=at)
    NotificationLog.objects.filter(id=log.id).update(updated_at=at)


def test_counts_delivered_and_failed_per_minute_with_empty_minutes_as_zero():
    _final("delivered", NOW - timedelta(minutes=2, seconds=10))
    _final("delivered", NOW - timedelta(minutes=2, seconds=20))
    _final("failed", NOW - timedelta(seconds=5))
    _final("delivered", NOW - timedelta(hours=2))  # outside the window
    _final("pending", NOW - timedelta(seconds=1))  # not final

    series = delivery_series(minutes=5, now=NOW)

    assert [(p["minute"][11:16], p["delivered"], p["failed"]) for p in series["points"]] == [
        ("12:26", 0, 0),
        ("12:27", 0, 0),
        ("12:28", 2, 0),
        ("12:29", 0, 0),
        ("12:30", 0, 1),
    ]


def test_the_api_is_internal_and_validates_minutes(api_client, internal_key, sender_key):
    api_client.credentials(HTTP_X_API_KEY=internal_key)
    body = assert_envelope(api_client.get("/api/v1/notifications/delivery-series/"), status=200)
    bad = api_client.get("/api/v1/notifications/delivery-series/", {"minutes": 0})
    api_client.credentials(HTTP_X_API_KEY=sender_key)
    refused = api_client.get("/api/v1/notifications/delivery-series/")

    assert len(body["data"]["points"]) == 60
    assert "minutes" in assert_envelope(bad, status=400, error="validation_error")["data"]
    assert_envelope(refused, status=403)
