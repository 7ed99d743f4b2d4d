"""GET /api/v1/notifications/{id}/, the sender's list, and the stats for the admin dashboard."""

import uuid

import pytest
from django.utils import timezone

from notification_devtools.testing import assert_envelope
from notifications.models import NotificationRequest
from notifications.tests.conftest import NOTIFICATIONS_URL, notification_body
from notifications.tests.factories import NotificationRequestFactory, OutboxMessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(send, user_service):
    """A notification sent with the sender key: its data from the 202 answer."""
    user_id = user_service.add_user()
    return assert_envelope(send(notification_body(user_id, request_id="read-1")), status=202)["data"]


def get(api_client, path, *, key=None, token=None, **params):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {"HTTP_X_API_KEY": key}
    return api_client.get(path, params, **headers)


def test_detail_merges_the_user_service_log(api_client, sender_key, sent, user_service):
    history = [
        {"status": "pending", "timestamp": "2026-11-24T01:00:01+00:00", "error": None, "attempt": 1},
        {"status": "delivered", "timestamp": "2026-11-24T01:00:02+00:00", "error": None, "attempt": 1},
    ]
    user_service.set_status(
        sent["notification_id"],
        user_id=sent["user_id"],
        channel="email",
        status="delivered",
        error=None,
        attempts=1,
        updated_at="2026-11-24T01:00:02+00:00",
        history=history,
    )

    response = get(api_client, f"{NOTIFICATIONS_URL}{sent['notification_id']}/", key=sender_key)

    data = assert_envelope(response, status=200)["data"]
    assert data["notification_id"] == sent["notification_id"]
    assert data["status"] == "delivered"
    assert data["status_source"] == "user_service"
    assert data["attempts"] == 1
    assert data["history"] == history
    assert data["template_code"] == "welcome"


def test_detail_remembers_the_live_status_for_the_list_filter(api_client, sender_key, sent, user_service):
    user_service.set_status(sent["notification_id"], status="failed", error="bad address", attempts=1, history=[])
    get(api_client, f"{NOTIFICATIONS_URL}{sent['notification_id']}/", key=sender_key)

    response = get(api_client, NOTIFICATIONS_URL, key=sender_key, status="failed")

    [listed] = assert_envelope(response, status=200)["data"]
    assert listed["notification_id"] == sent["notification_id"]


def test_detail_is_pending_while_the_user_service_has_no_log_yet(api_client, sender_key, sent, user_service):
    response = get(api_client, f"{NOTIFICATIONS_URL}{sent['notification_id']}/", key=sender_key)

    data = assert_envelope(response, status=200)["data"]
    assert data["status"] == "pending"
    assert data["attempts"] == 0
    assert data["history"] == []


def test_detail_answers_from_the_gateway_when_the_user_service_is_down(api_client, sender_key, sent, settings):
    settings.USER_SERVICE_URL = "http://127.0.0.1:1"

    response = get(api_client, f"{NOTIFICATIONS_URL}{sent['notification_id']}/", key=sender_key)

    data = assert_envelope(response, status=200)["data"]
    assert data["status"] == "pending"
    assert data["status_source"] == "gateway"


def test_detail_of_another_senders_notification_is_404(api_client, sent, user_token):
    response = get(api_client, f"{NOTIFICATIONS_URL}{sent['notification_id']}/", token=user_token(sent["user_id"]))

    assert_envelope(response, status=404, error="not_found")


@pytest.mark.parametrize("notification_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_detail_of_an_unknown_or_malformed_id_is_404(api_client, sender_key, notification_id):
    response = get(api_client, f"{NOTIFICATIONS_URL}{notification_id}/", key=sender_key)

    assert_envelope(response, status=404, error="not_found")


def test_detail_without_credentials_is_401(api_client, sent):
    response = api_client.get(f"{NOTIFICATIONS_URL}{sent['notification_id']}/")

    assert_envelope(response, status=401, error="not_authenticated")


def test_list_shows_only_the_senders_own_notifications_newest_first(api_client, user_token):
    user_id = uuid.uuid4()
    mine = [NotificationRequestFactory(sender=f"user:{user_id}") for _ in range(3)]
    NotificationRequestFactory(sender="key:someone-else")

    response = get(api_client, NOTIFICATIONS_URL, token=user_token(user_id))

    body = assert_envelope(response, status=200)
    assert [item["notification_id"] for item in body["data"]] == [str(n.id) for n in reversed(mine)]
    assert body["meta"]["total"] == 3


def test_list_is_paginated_with_meta(api_client, user_token):
    user_id = uuid.uuid4()
    NotificationRequestFactory.create_batch(5, sender=f"user:{user_id}")

    response = get(api_client, NOTIFICATIONS_URL, token=user_token(user_id), page=2, limit=2)

    body = assert_envelope(response, status=200)
    assert len(body["data"]) == 2
    assert body["meta"] == {
        "total": 5,
        "limit": 2,
        "page": 2,
        "total_pages": 3,
        "has_next": True,
        "has_previous": True,
    }


def test_list_filters_by_type_and_status(api_client, user_token):
    user_id = uuid.uuid4()
    sender = f"user:{user_id}"
    NotificationRequestFactory(sender=sender, notification_type="email")
    push = NotificationRequestFactory(sender=sender, notification_type="push", status="delivered")
    NotificationRequestFactory(sender=sender, notification_type="push")

    response = get(
        api_client, NOTIFICATIONS_URL, token=user_token(user_id), notification_type="push", status="delivered"
    )

    assert [item["notification_id"] for item in assert_envelope(response, status=200)["data"]] == [str(push.id)]


def test_list_reports_whether_each_notification_is_queued(api_client, user_token):
    user_id = uuid.uuid4()
    OutboxMessageFactory(notification__sender=f"user:{user_id}", published_at=timezone.now())

    [item] = assert_envelope(get(api_client, NOTIFICATIONS_URL, token=user_token(user_id)), status=200)["data"]

    assert item["queued"] is True
    assert "variables" not in item


@pytest.mark.parametrize(("name", "value"), [("status", "lost"), ("notification_type", "sms"), ("limit", "0")])
def test_list_with_a_bad_filter_is_400_naming_it(api_client, sender_key, name, value):
    response = get(api_client, NOTIFICATIONS_URL, key=sender_key, **{name: value})

    body = assert_envelope(response, status=400, error="validation_error")
    assert name in body["data"]


def test_stats_count_accepted_notifications_and_the_outbox_backlog(api_client, internal_key):
    OutboxMessageFactory(notification__notification_type="email")
    OutboxMessageFactory(notification__notification_type="push", published_at=timezone.now())
    old = NotificationRequestFactory(notification_type="email")
    NotificationRequest.objects.filter(pk=old.pk).update(created_at=timezone.now() - timezone.timedelta(days=2))

    response = get(api_client, f"{NOTIFICATIONS_URL}stats/", key=internal_key)

    data = assert_envelope(response, status=200)["data"]
    assert data["outbox"]["backlog"] == 1
    assert data["outbox"]["oldest_age_seconds"] >= 0
    assert data["accepted"] == {
        "last_hour": {"email": 1, "push": 1},
        "last_day": {"email": 1, "push": 1},
        "total": {"email": 2, "push": 1},
    }


def test_stats_need_an_internal_key(api_client, sender_key):
    response = get(api_client, f"{NOTIFICATIONS_URL}stats/", key=sender_key)

    assert_envelope(response, status=403, error="permission_denied")
