"""Cancelling a scheduled send: POST /api/v1/notifications/{id}/cancel/.

A cancel racing the scheduler is decided by the outbox row's lock: the relay holds it (FOR
UPDATE SKIP LOCKED) while it publishes (docs/api.md, "Scheduled sends").
"""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from notification_common.api_keys import hash_api_key
from notification_common.rabbitmq import get_publisher
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.waiting import wait_until
from notifications.models import NotificationRequest, OutboxMessage
from notifications.services import outbox as outbox_service
from notifications.services.cancellation import notification_cancel
from notifications.services.outbox import outbox_relay_batch
from notifications.tests.conftest import NOTIFICATIONS_URL, notification_body
from notifications.tests.factories import OutboxMessageFactory
from notifications.tests.scheduled import published_ids, rfc3339, scheduled_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def sender_label(sender_key) -> str:
    """How the gateway names the bootstrap sender key (NotificationRequest.sender)."""
    return f"key:bootstrap:{hash_api_key(sender_key)[:8]}"


def cancel_url(notification_id) -> str:
    return f"{NOTIFICATIONS_URL}{notification_id}/cancel/"


# -- cancelling ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_cancel_before_send_at_answers_cancelled_and_it_is_never_published(
    api_client, sender_key, send, user_service, rabbit_channel
):
    user_id = user_service.add_user()
    send_at = timezone.now() + timedelta(hours=1)
    created = assert_envelope(send(notification_body(user_id, send_at=rfc3339(send_at))), status=202)["data"]

    response = api_client.post(cancel_url(created["notification_id"]), HTTP_X_API_KEY=sender_key)

    data = assert_envelope(response, status=200)["data"]
    assert data["status"] == "cancelled"
    assert data["cancelled_at"] is not None
    assert outbox_relay_batch(batch_size=10, grace_seconds=0, now=send_at + timedelta(minutes=1)).taken == 0
    assert published_ids(rabbit_channel) == []
    detail = api_client.get(f"{NOTIFICATIONS_URL}{created['notification_id']}/", HTTP_X_API_KEY=sender_key)
    assert assert_envelope(detail, status=200)["data"]["status"] == "cancelled"


def test_cancelling_twice_answers_200_cancelled_again(api_client, sender_key, sender_label):
    row = scheduled_row(due_at=timezone.now() + timedelta(hours=1), sender=sender_label)
    first = assert_envelope(api_client.post(cancel_url(row.notification_id), HTTP_X_API_KEY=sender_key), status=200)

    again = api_client.post(cancel_url(row.notification_id), HTTP_X_API_KEY=sender_key)

    data = assert_envelope(again, status=200)["data"]
    assert data["status"] == "cancelled"
    assert data["cancelled_at"] == first["data"]["cancelled_at"]


def test_cancel_after_publishing_is_409_already_published(api_client, sender_key, sender_label, rabbit_channel):
    row = scheduled_row(due_at=timezone.now() - timedelta(seconds=1), sender=sender_label)
    outbox_relay_batch(batch_size=10, grace_seconds=0)

    response = api_client.post(cancel_url(row.notification_id), HTTP_X_API_KEY=sender_key)

    assert_envelope(response, status=409, error="already_published")
    assert NotificationRequest.objects.get(pk=row.notification_id).status == "pending"


def test_cancel_of_a_notification_sent_without_send_at_is_409_not_scheduled(api_client, sender_key, sender_label):
    row = OutboxMessageFactory(notification__sender=sender_label)

    response = api_client.post(cancel_url(row.notification_id), HTTP_X_API_KEY=sender_key)

    assert_envelope(response, status=409, error="not_scheduled")


def test_cancel_of_another_senders_notification_is_404_and_leaves_it(api_client, sender_key):
    row = scheduled_row(due_at=timezone.now() + timedelta(hours=1), sender="key:someone-else")

    response = api_client.post(cancel_url(row.notification_id), HTTP_X_API_KEY=sender_key)

    assert_envelope(response, status=404, error="not_found")
    row.refresh_from_db()
    assert row.cancelled_at is None


@pytest.mark.parametrize("notification_id", [uuid.uuid4(), "not-a-uuid"])
def test_cancel_of_an_unknown_or_malformed_id_is_404(api_client, sender_key, notification_id):
    response = api_client.post(cancel_url(notification_id), HTTP_X_API_KEY=sender_key)

    assert_envelope(response, status=404, error="not_found")


def test_cancel_without_credentials_is_401(api_client):
    row = scheduled_row(due_at=timezone.now() + timedelta(hours=1))

    response = api_client.post(cancel_url(row.notification_id))

    assert response.status_code == 401
    row.refresh_from_db()
    assert row.cancelled_at is None


def test_cancel_with_a_key_that_cannot_send_is_403(api_client, internal_key):
    row = scheduled_row(due_at=timezone.now() + timedelta(hours=1))

    response = api_client.post(cancel_url(row.notification_id), HTTP_X_API_KEY=internal_key)

    assert_envelope(response, status=403, error="permission_denied")
    row.refresh_from_db()
    assert row.cancelled_at is None


def test_a_cancelled_parked_row_cannot_be_replayed(api_client, internal_key):
    row = scheduled_row(due_at=timezone.now() + timedelta(hours=1))
    notification_cancel(notification_id=row.notification_id, sender=row.notification.sender)
    OutboxMessage.objects.filter(pk=row.pk).update(parked_at=timezone.now())

    response = api_client.post(f"/api/v1/outbox/{row.notification_id}/replay/", HTTP_X_API_KEY=internal_key)

    assert_envelope(response, status=409, error="cancelled")


# -- cancel racing the scheduler: the row lock decides --------------------------------------------


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_cancel_while_the_scheduler_publishes_waits_and_answers_already_published(monkeypatch, rabbit_channel):
    row = scheduled_row(due_at=timezone.now() - timedelta(seconds=1))
    publishing, go = threading.Event(), threading.Event()

    class HeldPublisher:
        """The broker answering slowly: the scheduler holds the row lock meanwhile."""

        def __init__(self, url):
            self.real = get_publisher(url)

        def publish_batch(self, *args, **kwargs):
            publishing.set()
            go.wait(10)
            return self.real.publish_batch(*args, **kwargs)

    monkeypatch.setattr(outbox_service, "get_publisher", HeldPublisher)
    outcome = {}

    def scheduler():
        try:
            outcome["relay"] = outbox_relay_batch(batch_size=10, grace_seconds=0)
        finally:
            connections.close_all()

    def cancel():
        try:
            notification_cancel(notification_id=row.notification_id, sender=row.notification.sender)
            outcome["cancel"] = "cancelled"
        except Exception as exc:  # the refusal is what this test looks at
            outcome["cancel"] = getattr(exc, "code", repr(exc))
        finally:
            connections.close_all()

    relay_thread = threading.Thread(target=scheduler)
    relay_thread.start()
    assert publishing.wait(10)
    cancel_thread = threading.Thread(target=cancel)
    cancel_thread.start()
    wait_until(lambda: _lock_waiters() >= 1)  # the cancel is blocked on the scheduler's row lock
    go.set()
    relay_thread.join(10)
    cancel_thread.join(10)

    assert outcome["relay"].published == 1
    assert outcome["cancel"] == "already_published"
    assert published_ids(rabbit_channel) == [str(row.notification_id)]


@pytest.mark.django_db(transaction=True)
def test_a_scheduler_running_while_a_cancel_holds_the_row_skips_it_and_never_publishes_it(rabbit_channel):
    row = scheduled_row(due_at=timezone.now() - timedelta(seconds=1))
    cancelled, release = threading.Event(), threading.Event()

    def cancel_holding_its_transaction_open():
        try:
            with transaction.atomic():
                notification_cancel(notification_id=row.notification_id, sender=row.notification.sender)
                cancelled.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=cancel_holding_its_transaction_open)
    thread.start()
    assert cancelled.wait(10)
    try:
        during = outbox_relay_batch(batch_size=10, grace_seconds=0)
    finally:
        release.set()
        thread.join(10)
    after = outbox_relay_batch(batch_size=10, grace_seconds=0)

    assert (during.taken, after.taken) == (0, 0)
    assert published_ids(rabbit_channel) == []
    row.refresh_from_db()
    assert row.cancelled_at is not None and row.published_at is None
    assert NotificationRequest.objects.get(pk=row.notification_id).status == "cancelled"


# -- the Django admin ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["pending", "scheduled", "cancelled"])
def test_outbox_admin_tells_scheduled_cancelled_and_pending_rows_apart(admin_client, status):
    now = timezone.now()
    rows = {
        "pending": OutboxMessageFactory(),
        "scheduled": scheduled_row(due_at=now + timedelta(hours=1)),
        "cancelled": scheduled_row(due_at=now + timedelta(hours=1)),
    }
    notification_cancel(notification_id=rows["cancelled"].notification_id, sender=rows["cancelled"].notification.sender)

    response = admin_client.get("/admin/notifications/outboxmessage/", {"status": status})

    assert response.status_code == 200
    assert list(response.context["cl"].queryset) == [rows[status]]
