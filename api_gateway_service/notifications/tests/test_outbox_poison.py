"""A row the broker will never take (unroutable, nacked) must not hold up the rows behind it:
it is retried with its own backoff, then parked, visible and replayable once. A broker outage
is nobody's fault: it counts against no row and parks nothing."""

import os
import signal
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from notification_common.rabbitmq import EMAIL_QUEUE, EXCHANGE
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.rabbit import drain
from notifications.models import OutboxMessage, OutboxStatus
from notifications.services import outbox as outbox_service
from notifications.services.outbox import outbox_publish
from notifications.tests.factories import OutboxMessageFactory

pytestmark = pytest.mark.django_db

UNROUTABLE = "no.such.queue"
FULL_QUEUE = "h4.test.full.queue"  # bound, but refuses every message: the broker nacks
UNREACHABLE_BROKER = "amqp://guest:guest@127.0.0.1:1/notifications_test"
PARKED_URL = "/api/v1/outbox/parked/"
OUTBOX_ADMIN = "/admin/notifications/outboxmessage/"


def replay_url(row) -> str:
    return f"/api/v1/outbox/{row.notification_id}/replay/"


def relay_once(*args):
    out = StringIO()
    call_command("relay_outbox", "--once", "--grace-seconds=0", *args, stdout=out)
    return out.getvalue()


def aged(row, seconds):
    OutboxMessage.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))
    row.refresh_from_db()
    return row


def parked_row(**fields):
    return OutboxMessageFactory(
        routing_key=UNROUTABLE, parked_at=timezone.now(), failed_attempts=3, last_error="unroutable", **fields
    )


@pytest.fixture
def retry_now(settings):
    """Every refused row is due again at once (the backoff itself is tested on its own)."""
    settings.OUTBOX_RETRY_BASE_SECONDS = 0
    settings.OUTBOX_MAX_PUBLISH_ATTEMPTS = 3


@pytest.fixture
def full_queue(rabbit_channel):
    """A queue bound to the exchange that refuses every message (max length 0, reject-publish),
    so the broker nacks what is routed to it."""
    rabbit_channel.queue_declare(
        FULL_QUEUE, durable=False, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    rabbit_channel.queue_bind(FULL_QUEUE, EXCHANGE, routing_key=FULL_QUEUE)
    yield FULL_QUEUE
    rabbit_channel.queue_delete(FULL_QUEUE)


def published_ids(channel) -> list[str]:
    return [message["notification_id"] for message, _ in drain(channel, EMAIL_QUEUE)]


# -- keeps moving ---------------------------------------------------------------------------


def test_rows_behind_an_unroutable_row_are_published(rabbit_channel):
    poison = aged(OutboxMessageFactory(routing_key=UNROUTABLE), 30)
    behind = [aged(OutboxMessageFactory(), 20), aged(OutboxMessageFactory(), 10)]

    relay_once()

    assert published_ids(rabbit_channel) == [str(row.notification_id) for row in behind]
    poison.refresh_from_db()
    assert poison.published_at is None
    assert poison.failed_attempts == 1
    assert poison.attempts == 1
    assert "unroutable" in poison.last_error


def test_rows_behind_a_nacked_row_are_published(rabbit_channel, full_queue):
    poison = aged(OutboxMessageFactory(routing_key=full_queue), 30)
    behind = aged(OutboxMessageFactory(), 10)

    relay_once()

    assert published_ids(rabbit_channel) == [str(behind.notification_id)]
    poison.refresh_from_db()
    assert poison.failed_attempts == 1
    assert "nacked" in poison.last_error


def test_a_refused_row_waits_for_its_backoff_before_it_is_tried_again(rabbit_channel, settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 60
    poison = OutboxMessageFactory(routing_key=UNROUTABLE)
    before = timezone.now()

    relay_once()
    relay_once()

    poison.refresh_from_db()
    assert poison.failed_attempts == 1
    assert poison.attempts == 1
    assert poison.next_attempt_at >= before + timedelta(seconds=60)


def test_backoff_doubles_per_refusal_up_to_the_cap(settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 2
    settings.OUTBOX_RETRY_MAX_SECONDS = 10

    delays = [outbox_service.outbox_retry_delay(failed_attempts=n) for n in range(1, 6)]

    assert delays == [2, 4, 8, 10, 10]


def test_a_row_due_again_is_retried_by_the_relay(rabbit_channel, settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 60
    poison = OutboxMessageFactory(routing_key=UNROUTABLE)
    relay_once()
    # Its backoff has run out: the relay asks the database with its own clock.
    later = timezone.now() + timedelta(seconds=61)

    outbox_service.outbox_relay_batch(batch_size=10, grace_seconds=0, now=later)

    poison.refresh_from_db()
    assert poison.failed_attempts == 2
    assert poison.next_attempt_at >= later + timedelta(seconds=120)


def test_after_the_last_allowed_refusal_the_row_is_parked_and_no_longer_tried(rabbit_channel, retry_now):
    poison = OutboxMessageFactory(routing_key=UNROUTABLE)

    for _ in range(3):
        relay_once()
    poison.refresh_from_db()
    assert poison.status == OutboxStatus.PARKED
    assert poison.failed_attempts == 3

    relay_once()

    poison.refresh_from_db()
    assert poison.attempts == 3
    assert poison.status == OutboxStatus.PARKED


def test_a_parked_row_leaves_the_backlog_and_is_counted_apart(rabbit_channel, retry_now):
    parked_row()
    aged(OutboxMessageFactory(), 5)

    from notifications.selectors import outbox_backlog

    backlog = outbox_backlog()

    assert backlog["backlog"] == 1
    assert backlog["parked"] == 1


def test_metrics_show_the_parked_rows(client):
    parked_row()
    parked_row()

    body = client.get("/metrics").content.decode()

    assert "notification_outbox_parked_rows 2.0" in body


# -- an outage is not the row's fault -----------------------------------------------------------


def test_a_broker_outage_counts_against_no_row_and_parks_nothing(settings, retry_now):
    settings.OUTBOX_MAX_PUBLISH_ATTEMPTS = 1
    row = OutboxMessageFactory()

    with override_settings(NOTIFICATION_COMMON=dict(settings.NOTIFICATION_COMMON, RABBITMQ_URL=UNREACHABLE_BROKER)):
        for _ in range(3):
            with pytest.raises(CommandError, match="publishing failed"):
                relay_once()

    row.refresh_from_db()
    assert row.status == OutboxStatus.PENDING
    assert row.failed_attempts == 0
    assert row.next_attempt_at is None
    assert row.last_error


def test_a_refused_publish_after_commit_does_not_send_other_requests_to_the_relay(rabbit_channel, settings):
    settings.OUTBOX_PUBLISH_BACKOFF_SECONDS = 60
    outbox_service._publish_paused_until.clear()
    poison = OutboxMessageFactory(routing_key=UNROUTABLE)
    good = OutboxMessageFactory()

    assert outbox_publish(outbox=poison) is False
    assert outbox_publish(outbox=good) is True

    poison.refresh_from_db()
    assert poison.failed_attempts == 1
    assert poison.attempts == 1
    assert published_ids(rabbit_channel) == [str(good.notification_id)]


# -- visible and replayable once ------------------------------------------------------------------


def test_parked_rows_are_listed_for_internal_keys(api_client, internal_key):
    row = parked_row()
    OutboxMessageFactory()  # pending: not listed

    response = api_client.get(PARKED_URL, HTTP_X_API_KEY=internal_key)

    body = assert_envelope(response, status=200)
    assert body["meta"]["total"] == 1
    [item] = body["data"]
    assert item["notification_id"] == str(row.notification_id)
    assert item["status"] == "parked"
    assert item["routing_key"] == UNROUTABLE
    assert item["failed_attempts"] == 3
    assert item["last_error"] == "unroutable"
    assert item["notification_type"] == "email"


def test_parked_rows_need_an_internal_key(api_client, sender_key):
    response = api_client.get(PARKED_URL, HTTP_X_API_KEY=sender_key)

    assert_envelope(response, status=403, error="permission_denied")


def test_replay_gives_a_parked_row_back_to_the_relay_which_publishes_it(api_client, internal_key, rabbit_channel):
    row = parked_row()
    OutboxMessage.objects.filter(pk=row.pk).update(routing_key=EMAIL_QUEUE)  # the cause was fixed

    response = api_client.post(replay_url(row), HTTP_X_API_KEY=internal_key)

    data = assert_envelope(response, status=200)["data"]
    assert data["status"] == "pending"
    assert data["replay_count"] == 1
    assert data["failed_attempts"] == 0
    relay_once()
    assert published_ids(rabbit_channel) == [str(row.notification_id)]


def test_a_second_replay_of_the_same_row_is_refused(api_client, internal_key, rabbit_channel, retry_now):
    row = parked_row()
    assert_envelope(api_client.post(replay_url(row), HTTP_X_API_KEY=internal_key), status=200)
    for _ in range(3):  # still unroutable: parked again
        relay_once()
    row.refresh_from_db()
    assert row.status == OutboxStatus.PARKED

    response = api_client.post(replay_url(row), HTTP_X_API_KEY=internal_key)

    assert_envelope(response, status=409, error="already_replayed")
    row.refresh_from_db()
    assert row.status == OutboxStatus.PARKED
    assert row.replay_count == 1


def test_replaying_a_row_that_is_not_parked_is_refused(api_client, internal_key):
    row = OutboxMessageFactory()

    response = api_client.post(replay_url(row), HTTP_X_API_KEY=internal_key)

    assert_envelope(response, status=409, error="not_parked")


@pytest.mark.parametrize("notification_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_replaying_an_unknown_row_is_a_404(api_client, internal_key, notification_id):
    response = api_client.post(f"/api/v1/outbox/{notification_id}/replay/", HTTP_X_API_KEY=internal_key)

    assert_envelope(response, status=404, error="not_found")


def test_replay_needs_an_internal_key(api_client, sender_key):
    row = parked_row()

    response = api_client.post(replay_url(row), HTTP_X_API_KEY=sender_key)

    assert_envelope(response, status=403, error="permission_denied")
    row.refresh_from_db()
    assert row.status == OutboxStatus.PARKED


def test_the_django_admin_lists_parked_rows_and_replays_them(admin_client):
    row = parked_row()
    OutboxMessageFactory()

    listed = admin_client.get(OUTBOX_ADMIN, {"status": "parked"})
    assert list(listed.context["cl"].queryset) == [row]

    response = admin_client.post(OUTBOX_ADMIN, {"action": "replay_parked", "_selected_action": [row.pk]}, follow=True)

    assert response.status_code == 200
    row.refresh_from_db()
    assert row.status == OutboxStatus.PENDING
    assert row.replayed_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_running_relay_parks_a_poison_row_and_publishes_the_rows_behind_it(rabbit_channel, retry_now):
    poison = aged(OutboxMessageFactory(routing_key=UNROUTABLE), 30)
    behind = [aged(OutboxMessageFactory(), 20), aged(OutboxMessageFactory(), 10)]

    def settled() -> bool:
        parked = OutboxMessage.objects.filter(pk=poison.pk, parked_at__isnull=False).exists()
        return parked and not OutboxMessage.objects.filter(published_at__isnull=True, parked_at__isnull=True).exists()

    def stop_when_settled():
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not settled():
                time.sleep(0.02)
        finally:
            connections.close_all()
            os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=stop_when_settled)
    watcher.start()
    call_command("relay_outbox", "--interval=0.01", "--grace-seconds=0", stdout=StringIO())
    watcher.join(5)

    assert published_ids(rabbit_channel) == [str(row.notification_id) for row in behind]
    poison.refresh_from_db()
    assert poison.status == OutboxStatus.PARKED
    assert poison.failed_attempts == 3
