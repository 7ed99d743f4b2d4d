"""The outbox: publishing after commit, the broker down, and relay_outbox."""

import os
import signal
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections, transaction
from django.test import override_settings
from django.utils import timezone

from notification_common.rabbitmq import EMAIL_QUEUE, PUSH_QUEUE
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.rabbit import drain
from notifications.models import OutboxMessage
from notifications.senders import Sender
from notifications.services.intake import notification_accept
from notifications.tests.conftest import notification_body
from notifications.tests.factories import NotificationRequestFactory, OutboxMessageFactory

pytestmark = pytest.mark.django_db

UNREACHABLE_BROKER = "amqp://guest:guest@127.0.0.1:1/notifications_test"


def broker_at(settings, url):
    return override_settings(NOTIFICATION_COMMON=dict(settings.NOTIFICATION_COMMON, RABBITMQ_URL=url))


def relay_once(*args):
    out = StringIO()
    call_command("relay_outbox", "--once", "--grace-seconds=0", *args, stdout=out)
    return out.getvalue()


def test_message_is_published_only_after_the_transaction_commits(
    user_service, rabbit_channel, django_capture_on_commit_callbacks
):
    user_id = user_service.add_user()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notification_accept(
            sender=Sender(label="key:test"),
            request_id=None,
            trace_id="trace-1",
            **{name: value for name, value in notification_body(user_id).items()},
        )
        assert drain(rabbit_channel, EMAIL_QUEUE) == []

    assert len(callbacks) == 1
    callbacks[0]()
    assert len(drain(rabbit_channel, EMAIL_QUEUE)) == 1


@pytest.mark.django_db(transaction=True)
def test_accepted_answer_says_queued_when_published_right_after_commit(send, user_service, rabbit_channel):
    user_id = user_service.add_user()

    data = assert_envelope(send(notification_body(user_id)), status=202)["data"]

    assert data["queued"] is True
    assert len(drain(rabbit_channel, EMAIL_QUEUE)) == 1


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_unreachable_the_request_is_accepted_and_the_relay_publishes_it_once(
    send, user_service, rabbit_channel, settings
):
    settings.OUTBOX_PUBLISH_BACKOFF_SECONDS = 0
    user_id = user_service.add_user()
    with broker_at(settings, UNREACHABLE_BROKER):
        response = send(notification_body(user_id, request_id="during-outage"))

    data = assert_envelope(response, status=202)["data"]
    assert data["queued"] is False
    outbox = OutboxMessage.objects.get()
    assert outbox.published_at is None
    assert outbox.attempts == 1
    assert outbox.last_error
    assert drain(rabbit_channel, EMAIL_QUEUE) == []

    assert "relayed 1" in relay_once()
    relay_once()

    [(message, properties)] = drain(rabbit_channel, EMAIL_QUEUE)
    assert message["notification_id"] == data["notification_id"]
    assert properties.message_id == data["notification_id"]
    outbox.refresh_from_db()
    assert outbox.published_at is not None


@pytest.mark.django_db(transaction=True)
def test_after_a_failed_publish_requests_leave_publishing_to_the_relay_for_a_while(
    send, user_service, rabbit_channel, settings
):
    settings.OUTBOX_PUBLISH_BACKOFF_SECONDS = 60
    user_id = user_service.add_user()
    with broker_at(settings, "amqp://guest:guest@127.0.0.1:2/notifications_test"):
        send(notification_body(user_id))
        send(notification_body(user_id))

    attempts = sorted(OutboxMessage.objects.values_list("attempts", flat=True))
    assert attempts == [0, 1]


def test_relay_publishes_oldest_first_to_the_right_queue(rabbit_channel):
    now = timezone.now()
    rows = [OutboxMessageFactory() for _ in range(3)]
    for age, row in zip((10, 30, 20), rows, strict=True):
        OutboxMessage.objects.filter(pk=row.pk).update(created_at=now - timedelta(seconds=age))
    push = OutboxMessageFactory(notification=NotificationRequestFactory(notification_type="push"))

    relay_once()

    published = [message["notification_id"] for message, _ in drain(rabbit_channel, EMAIL_QUEUE)]
    assert published == [str(rows[1].notification_id), str(rows[2].notification_id), str(rows[0].notification_id)]
    assert [m["notification_id"] for m, _ in drain(rabbit_channel, PUSH_QUEUE)] == [str(push.notification_id)]
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()


def test_relay_leaves_rows_younger_than_the_grace_to_the_after_commit_publish(rabbit_channel):
    OutboxMessageFactory()

    out = StringIO()
    call_command("relay_outbox", "--once", "--grace-seconds=60", stdout=out)

    assert "relayed 0" in out.getvalue()
    assert drain(rabbit_channel, EMAIL_QUEUE) == []


def test_relay_never_republishes_a_published_row(rabbit_channel):
    OutboxMessageFactory(published_at=timezone.now())

    relay_once()

    assert drain(rabbit_channel, EMAIL_QUEUE) == []


def test_relay_works_through_more_rows_than_one_batch(rabbit_channel):
    OutboxMessageFactory.create_batch(5)

    relay_once("--batch-size=2")

    assert len(drain(rabbit_channel, EMAIL_QUEUE)) == 5


@pytest.mark.django_db(transaction=True)
def test_relay_skips_rows_another_relay_holds(rabbit_channel):
    held, free = OutboxMessageFactory(), OutboxMessageFactory()
    locked, release = threading.Event(), threading.Event()

    def other_relay():
        try:
            with transaction.atomic():
                list(OutboxMessage.objects.select_for_update().filter(pk=held.pk))
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_relay)
    thread.start()
    locked.wait(10)
    try:
        relay_once()
    finally:
        release.set()
        thread.join(10)

    assert [m["notification_id"] for m, _ in drain(rabbit_channel, EMAIL_QUEUE)] == [str(free.notification_id)]
    held.refresh_from_db()
    assert held.published_at is None


def test_relay_once_with_the_broker_down_fails_and_keeps_the_row(settings):
    row = OutboxMessageFactory()

    with broker_at(settings, UNREACHABLE_BROKER), pytest.raises(CommandError, match="publishing failed"):
        relay_once()

    row.refresh_from_db()
    assert row.published_at is None
    assert row.attempts == 1


def test_relay_refuses_a_batch_size_of_zero():
    with pytest.raises(CommandError, match="batch-size"):
        relay_once("--batch-size=0")


def test_relay_refuses_a_negative_interval():
    with pytest.raises(CommandError, match="interval"):
        call_command("relay_outbox", "--interval=-1", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_relay_loop_publishes_and_stops_cleanly_on_sigterm(rabbit_channel):
    row = OutboxMessageFactory()
    OutboxMessage.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(seconds=10))
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    previous = signal.getsignal(signal.SIGTERM)

    call_command("relay_outbox", "--interval=0.05", stdout=StringIO())

    assert [m["notification_id"] for m, _ in drain(rabbit_channel, EMAIL_QUEUE)] == [str(row.notification_id)]
    assert signal.getsignal(signal.SIGTERM) is previous
