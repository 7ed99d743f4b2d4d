"""The final-status feed the gateway's webhook dispatcher reads (users/selectors.py, users/status_apis.py)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F

from users.delivery_status import StatusReport, notification_status_record_batch
from users.models import NotificationStatusEvent

pytestmark = pytest.mark.django_db

FEED_URL = "/api/v1/notifications/status-events/"
T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def record(channel, nid, status, seconds=0, error=""):
    notification_status_record_batch(
        channel=channel,
        reports=[
            StatusReport(notification_id=nid, status=status, timestamp=T0 + timedelta(seconds=seconds), error=error)
        ],
    )


def received_earlier(seconds: int) -> None:
    # Inside a test transaction now() never moves: date what was recorded back instead.
    NotificationStatusEvent.objects.update(received_at=F("received_at") - timedelta(seconds=seconds))


def feed(api_client, key, **params):
    return api_client.get(FEED_URL, params, HTTP_X_API_KEY=key)


def test_lists_only_final_statuses_oldest_first_with_their_channel(api_client, internal_key):
    delivered, failed = uuid.uuid4(), uuid.uuid4()
    record("email", delivered, "pending")
    record("email", delivered, "delivered", 1)
    record("push", failed, "failed", 2, error="UNREGISTERED")
    received_earlier(60)

    response = feed(api_client, internal_key, settle_seconds=0)

    assert response.status_code == 200
    events = response.json()["data"]
    assert [(e["notification_id"], e["channel"], e["status"], e["error"]) for e in events] == [
        (str(delivered), "email", "delivered", ""),
        (str(failed), "push", "failed", "UNREGISTERED"),
    ]


def test_the_cursor_returns_what_follows_it_and_pages_by_limit(api_client, internal_key):
    ids = [uuid.uuid4() for _ in range(3)]
    for index, nid in enumerate(ids):
        record("email", nid, "delivered", index)
    received_earlier(60)

    first = feed(api_client, internal_key, settle_seconds=0, limit=2).json()["data"]
    rest = feed(
        api_client, internal_key, settle_seconds=0, after=first[-1]["received_at"], after_id=first[-1]["id"]
    ).json()["data"]

    assert [e["notification_id"] for e in first + rest] == [str(nid) for nid in ids]


def test_events_younger_than_the_settle_window_wait(api_client, internal_key):
    record("email", uuid.uuid4(), "delivered")
    received_earlier(5)

    assert feed(api_client, internal_key, settle_seconds=30).json()["data"] == []
    assert len(feed(api_client, internal_key, settle_seconds=1).json()["data"]) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "yesterday"}, "after"),
        ({"after_id": "-1"}, "after_id"),
        ({"after_id": "x"}, "after_id"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"settle_seconds": "-1"}, "settle_seconds"),
        ({"settle_seconds": "nan-ish"}, "settle_seconds"),
    ],
)
def test_bad_cursor_parameters_are_400_naming_the_field(api_client, internal_key, params, field):
    response = feed(api_client, internal_key, **params)

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["data"]


def test_only_internal_keys_read_the_feed(api_client, sender_key):
    assert feed(api_client, sender_key).status_code == 403
    assert api_client.get(FEED_URL).status_code == 401
