"""POST /api/v1/notifications/bulk/: many notifications, each with its own outcome."""

import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notification_common.rabbitmq import EMAIL_QUEUE, PUSH_QUEUE
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.rabbit import drain
from notifications.models import NotificationRequest, OutboxMessage
from notifications.tests.conftest import notification_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/notifications/bulk/"


@pytest.fixture
def bulk(api_client, sender_key, fresh_rate_limits):
    def post(items, *, key=None, token=None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {"HTTP_X_API_KEY": key or sender_key}
        return api_client.post(URL, {"notifications": items}, format="json", **headers)

    return post


def item(user_id, **overrides):
    return notification_body(user_id, request_id=overrides.pop("request_id", str(uuid.uuid4())), **overrides)


def test_every_item_is_accepted_stored_once_and_published(
    bulk, user_service, rabbit_channel, django_capture_on_commit_callbacks
):
    users = [user_service.add_user() for _ in range(3)]
    items = [item(u, variables={"name": f"User {n}"}) for n, u in enumerate(users)]
    items.append(item(users[0], notification_type="push"))

    with django_capture_on_commit_callbacks(execute=True):
        response = bulk(items)

    data = assert_envelope(response, status=202)["data"]
    assert (data["accepted"], data["duplicates"], data["rejected"]) == (4, 0, 0)
    assert [r["index"] for r in data["results"]] == [0, 1, 2, 3]
    ids = [r["notification"]["notification_id"] for r in data["results"]]
    assert sorted(m["notification_id"] for m, _ in drain(rabbit_channel, EMAIL_QUEUE)) == sorted(ids[:3])
    assert [m["notification_id"] for m, _ in drain(rabbit_channel, PUSH_QUEUE)] == [ids[3]]
    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 0
    stored = {str(n.pk): n.variables["name"] for n in NotificationRequest.objects.filter(pk__in=ids[:3])}
    assert [stored[i] for i in ids[:3]] == ["User 0", "User 1", "User 2"]


def test_bad_items_are_refused_one_by_one_naming_the_field(bulk, user_service):
    user_id = user_service.add_user()

    response = bulk([item(user_id), {"user_id": "nope"}, item(user_id, priority=99), item(user_id)])

    data = assert_envelope(response, status=202)["data"]
    assert [r["outcome"] for r in data["results"]] == ["accepted", "rejected", "rejected", "accepted"]
    assert "user_id" in data["results"][1]["errors"] and "template_code" in data["results"][1]["errors"]
    assert "priority" in data["results"][2]["errors"]
    assert data["results"][2]["status_code"] == 400
    assert NotificationRequest.objects.count() == 2


def test_unknown_users_and_disabled_preferences_are_refused_per_item(bulk, user_service):
    ok_user = user_service.add_user()
    quiet = user_service.add_user(email_enabled=False)

    results = bulk([item(ok_user), item(str(uuid.uuid4())), item(quiet)]).json()["data"]["results"]

    assert [(r["outcome"], r.get("error")) for r in results] == [
        ("accepted", None),
        ("rejected", "user_not_found"),
        ("rejected", "preference_disabled"),
    ]
    assert [r.get("status_code") for r in results[1:]] == [404, 422]


def test_a_replayed_bulk_request_answers_duplicates_and_stores_nothing_new(bulk, user_service):
    user_id = user_service.add_user()
    items = [item(user_id, request_id=f"order-{n}") for n in range(3)]
    first = bulk(items).json()["data"]["results"]

    again = assert_envelope(bulk(items), status=202)["data"]

    assert again["duplicates"] == 3
    assert [r["notification"]["notification_id"] for r in again["results"]] == [
        r["notification"]["notification_id"] for r in first
    ]
    assert NotificationRequest.objects.count() == 3


def test_a_request_id_reused_with_another_body_is_a_409_for_that_item(bulk, user_service):
    user_id = user_service.add_user()
    bulk([item(user_id, request_id="order-1")])

    results = bulk([item(user_id, request_id="order-1", variables={"name": "Bo"}), item(user_id)]).json()["data"][
        "results"
    ]

    assert (results[0]["outcome"], results[0]["error"], results[0]["status_code"]) == (
        "rejected",
        "idempotency_conflict",
        409,
    )
    assert results[1]["outcome"] == "accepted"


def test_a_request_id_repeated_inside_one_request_is_stored_once(bulk, user_service):
    user_id = user_service.add_user()
    same = item(user_id, request_id="order-7")

    results = bulk([same, dict(same), dict(same, variables={"name": "Other"})]).json()["data"]["results"]

    assert [r["outcome"] for r in results] == ["accepted", "duplicate", "rejected"]
    assert results[1]["notification"]["notification_id"] == results[0]["notification"]["notification_id"]
    assert results[2]["error"] == "idempotency_conflict"
    assert NotificationRequest.objects.filter(idempotency_key="order-7").count() == 1


def test_items_may_be_scheduled_one_by_one(bulk, user_service):
    user_id = user_service.add_user()
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    past = (timezone.now() - timedelta(hours=1)).isoformat()

    results = bulk([item(user_id, send_at=later), item(user_id), item(user_id, send_at=past)]).json()["data"]["results"]

    assert [r["outcome"] for r in results] == ["scheduled", "accepted", "rejected"]
    assert "send_at" in results[2]["errors"]
    scheduled = OutboxMessage.objects.get(notification_id=results[0]["notification"]["notification_id"])
    assert scheduled.due_at is not None and scheduled.published_at is None


def test_a_user_token_may_bulk_send_only_to_itself(bulk, user_service, user_token):
    me, other = user_service.add_user(), user_service.add_user()

    results = bulk([item(me), item(other)], token=user_token(me)).json()["data"]["results"]

    assert [(r["outcome"], r.get("error")) for r in results] == [("accepted", None), ("rejected", "permission_denied")]


def test_every_item_counts_against_the_senders_rate_limit(bulk, user_service, settings):
    settings.RATE_LIMIT_PER_KEY = 5
    user_id = user_service.add_user()
    assert_envelope(bulk([item(user_id) for _ in range(4)]), status=202)

    response = bulk([item(user_id) for _ in range(2)])

    assert_envelope(response, status=429, error="rate_limited")
    assert response["Retry-After"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"notifications": []}, "notifications"), ({}, "notifications"), ({"notifications": "x"}, "notifications")],
)
def test_a_malformed_envelope_is_a_400_naming_the_field(api_client, sender_key, body, field):
    response = api_client.post(URL, body, format="json", HTTP_X_API_KEY=sender_key)

    assert field in assert_envelope(response, status=400, error="validation_error")["data"]


def test_more_than_the_limit_is_a_400(bulk, settings):
    settings.NOTIFICATION_BULK_MAX_ITEMS = 3

    response = bulk([item(str(uuid.uuid4())) for _ in range(4)])

    assert "notifications" in assert_envelope(response, status=400, error="validation_error")["data"]


def test_a_list_with_nothing_accepted_is_a_400_with_the_results(bulk):
    body = assert_envelope(bulk([{"x": 1}, {"y": 2}]), status=400, error="validation_error")

    assert body["data"]["rejected"] == 2


def test_the_statement_count_does_not_grow_with_the_items(bulk, user_service, django_capture_on_commit_callbacks):
    users = [user_service.add_user() for _ in range(40)]
    bulk([item(u) for u in users[:2]])  # warm the user cache for both runs alike
    bulk([item(u) for u in users])

    def statements(count):
        with CaptureQueriesContext(connection) as queries:
            assert_envelope(bulk([item(u) for u in users[:count]]), status=202)
        return len(queries.captured_queries)

    assert statements(40) == statements(5)


def test_a_sender_key_without_the_send_scope_is_refused(api_client, internal_key):
    response = api_client.post(URL, {"notifications": [{}]}, format="json", HTTP_X_API_KEY=internal_key)

    assert_envelope(response, status=403, error="permission_denied")


def test_a_full_request_of_realistic_items_fits_the_gateways_body_cap(bulk, user_service, settings):
    # 1,000 items with a few variables each are well over the other services' 256 KiB cap.
    user_id = user_service.add_user()
    items = [item(user_id, variables={"name": "N" * 200, "order": f"order-{n}"}) for n in range(1000)]
    assert len(json.dumps({"notifications": items})) > 256 * 1024

    response = bulk(items)

    assert response.status_code != 413, response.content[:200]
    assert len(response.json()["data"]["results"]) == 1000


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_unreachable_every_item_is_accepted_and_the_relay_publishes_each_once(
    bulk, user_service, rabbit_channel, settings
):
    user_id = user_service.add_user()
    items = [item(user_id, variables={"name": f"User {n}"}) for n in range(3)]
    unreachable = dict(settings.NOTIFICATION_COMMON, RABBITMQ_URL="amqp://guest:guest@127.0.0.1:1/notifications_test")

    with override_settings(NOTIFICATION_COMMON=unreachable):
        response = bulk(items)

    # Accepted and stored: the publish after commit got no confirm, so the rows wait for the relay.
    data = assert_envelope(response, status=202)["data"]
    assert data["accepted"] == 3
    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 3
    assert drain(rabbit_channel, EMAIL_QUEUE) == []

    call_command("relay_outbox", "--once", "--grace-seconds=0", stdout=StringIO())
    call_command("relay_outbox", "--once", "--grace-seconds=0", stdout=StringIO())

    ids = sorted(r["notification"]["notification_id"] for r in data["results"])
    assert sorted(m["notification_id"] for m, _ in drain(rabbit_channel, EMAIL_QUEUE)) == ids
    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 0
