"""GET /api/v1/message-log/: the operators' search across senders (internal keys only)."""

import uuid

import pytest

from notification_devtools.testing import assert_envelope
from notifications.tests.factories import NotificationRequestFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/message-log/"


def test_finds_by_request_id_across_senders_newest_first(api_client, internal_key):
    older = NotificationRequestFactory(sender="key:a", idempotency_key="order-7")
    newer = NotificationRequestFactory(sender="key:b", idempotency_key="order-7")
    NotificationRequestFactory(idempotency_key="other")
    api_client.credentials(HTTP_X_API_KEY=internal_key)

    rows = assert_envelope(api_client.get(URL, {"request_id": "order-7"}), status=200)["data"]

    assert [row["notification_id"] for row in rows] == [str(newer.id), str(older.id)]
    assert rows[0]["sender"] == "key:b" and rows[0]["request_id"] == "order-7"


def test_finds_by_notification_id_and_by_several_user_ids(api_client, internal_key):
    first, second = NotificationRequestFactory(), NotificationRequestFactory()
    api_client.credentials(HTTP_X_API_KEY=internal_key)

    by_id = assert_envelope(api_client.get(URL, {"notification_id": str(first.id)}), status=200)["data"]
    by_users = assert_envelope(api_client.get(f"{URL}?user_id={first.user_id}&user_id={second.user_id}"), status=200)[
        "data"
    ]

    assert [row["notification_id"] for row in by_id] == [str(first.id)]
    assert {row["notification_id"] for row in by_users} == {str(first.id), str(second.id)}


@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "notification_id"), ({"notification_id": "nope"}, "notification_id"), ({"user_id": "x"}, "user_id")],
)
def test_bad_or_missing_filters_are_a_400_naming_the_field(api_client, internal_key, params, field):
    api_client.credentials(HTTP_X_API_KEY=internal_key)

    assert field in assert_envelope(api_client.get(URL, params), status=400, error="validation_error")["data"]


def test_sender_keys_cannot_search(api_client, sender_key):
    api_client.credentials(HTTP_X_API_KEY=sender_key)

    assert_envelope(api_client.get(URL, {"notification_id": str(uuid.uuid4())}), status=403)
