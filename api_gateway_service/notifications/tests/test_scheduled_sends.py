"""Scheduled sends: send_at on POST /api/v1/notifications/ and the relay's due index
(cancelling them: test_scheduled_cancel.py).

The scheduler is the relay's loop (relay_outbox): due scheduled rows are taken with
FOR UPDATE SKIP LOCKED, so replicas never publish one twice (docs/api.md, "Scheduled sends").
"""

import os
import signal
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections, transaction
from django.utils import timezone

from notification_devtools.testing import assert_envelope
from notification_devtools.testing.waiting import wait_until
from notifications.health import check_outbox
from notifications.models import NotificationRequest, OutboxMessage
from notifications.senders import Sender
from notifications.services.intake import notification_accept
from notifications.services.outbox import outbox_relay_batch
from notifications.tests.conftest import NOTIFICATIONS_URL, notification_body
from notifications.tests.factories import OutboxMessageFactory
from notifications.tests.scheduled import published_ids, rfc3339, scheduled_row

pytestmark = pytest.mark.django_db


# -- accepting -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_send_at_answers_202_scheduled_in_utc_and_publishes_nothing_yet(send, user_service, rabbit_channel):
    user_id = user_service.add_user()
    send_at = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    spelled_with_offset = send_at.astimezone(timezone.get_fixed_timezone(120)).isoformat()

    response = send(notification_body(user_id, send_at=spelled_with_offset))

    body = assert_envelope(response, status=202)
    assert body["message"] == "Notification scheduled."
    assert body["data"]["status"] == "scheduled"
    assert body["data"]["send_at"] == rfc3339(send_at)
    assert body["data"]["queued"] is False
    assert published_ids(rabbit_channel) == []
    outbox = OutboxMessage.objects.get(notification_id=body["data"]["notification_id"])
    assert outbox.due_at == send_at
    assert outbox.published_at is None


@pytest.mark.parametrize(
    "send_at, problem",
    [
        (lambda now: rfc3339(now - timedelta(seconds=1)), "future"),
        (lambda now: rfc3339(now + timedelta(days=30, minutes=1)), "30 days"),
        (lambda now: "tomorrow at noon", "RFC 3339"),
        (lambda now: (now + timedelta(hours=1)).replace(tzinfo=None).isoformat(), "RFC 3339"),  # no offset
        (lambda now: (now + timedelta(days=1)).date().isoformat(), "RFC 3339"),  # a date alone
        (lambda now: "2026-02-30T10:00:00Z", "RFC 3339"),  # no such day
        (lambda now: 1767225600, "RFC 3339"),  # a unix time
        (lambda now: [rfc3339(now + timedelta(hours=1))], "RFC 3339"),
        (lambda now: None, "null"),
    ],
    ids=["past", "beyond-30-days", "not-a-date", "no-offset", "date-only", "impossible-day", "number", "list", "null"],
)
def test_bad_send_at_is_400_naming_it(send, user_service, send_at, problem):
    user_id = user_service.add_user()

    response = send(notification_body(user_id, send_at=send_at(timezone.now())))

    body = assert_envelope(response, status=400, error="validation_error")
    assert list(body["data"]) == ["send_at"]
    assert problem in body["data"]["send_at"][0]
    assert not NotificationRequest.objects.exists()


def test_send_at_just_inside_30_days_is_accepted(send, user_service):
    user_id = user_service.add_user()

    response = send(notification_body(user_id, send_at=rfc3339(timezone.now() + timedelta(days=29, hours=23))))

    assert assert_envelope(response, status=202)["data"]["status"] == "scheduled"


def test_the_same_send_at_spelled_with_another_offset_is_a_duplicate(send, user_service):
    user_id = user_service.add_user()
    send_at = (timezone.now() + timedelta(hours=3)).replace(microsecond=0)
    body = notification_body(user_id, request_id="sched-1", send_at=rfc3339(send_at))
    first = assert_envelope(send(body), status=202)

    again = send(
        notification_body(
            user_id, request_id="sched-1", send_at=send_at.astimezone(timezone.get_fixed_timezone(-300)).isoformat()
        )
    )

    data = assert_envelope(again, status=200)["data"]
    assert data["duplicate"] is True
    assert data["notification_id"] == first["data"]["notification_id"]
    assert NotificationRequest.objects.count() == 1


def test_a_different_send_at_under_the_same_request_id_is_a_conflict(send, user_service):
    user_id = user_service.add_user()
    send_at = timezone.now() + timedelta(hours=3)
    assert_envelope(send(notification_body(user_id, request_id="sched-2", send_at=rfc3339(send_at))), status=202)

    later = send(notification_body(user_id, request_id="sched-2", send_at=rfc3339(send_at + timedelta(minutes=1))))
    immediate = send(notification_body(user_id, request_id="sched-2"))

    assert_envelope(later, status=409, error="idempotency_conflict")
    assert_envelope(immediate, status=409, error="idempotency_conflict")


def test_a_retry_after_send_at_has_passed_answers_the_original(user_service):
    user_id = user_service.add_user()
    now = timezone.now()
    fields = dict(notification_body(user_id), request_id="sched-3", trace_id="t", send_at=now + timedelta(minutes=1))

    first = notification_accept(sender=Sender(label="key:test"), now=now, **fields)
    retry = notification_accept(sender=Sender(label="key:test"), now=now + timedelta(minutes=5), **fields)

    assert retry.duplicate is True
    assert retry.notification.pk == first.notification.pk


def test_detail_shows_scheduled_and_send_at_without_asking_the_user_service(api_client, sender_key, send, user_service):
    user_id = user_service.add_user()
    send_at = timezone.now() + timedelta(hours=1)
    created = assert_envelope(send(notification_body(user_id, send_at=rfc3339(send_at))), status=202)["data"]

    response = api_client.get(f"{NOTIFICATIONS_URL}{created['notification_id']}/", HTTP_X_API_KEY=sender_key)

    data = assert_envelope(response, status=200)["data"]
    assert data["status"] == "scheduled"
    assert data["status_source"] == "gateway"
    assert data["send_at"] == created["send_at"]
    assert data["cancelled_at"] is None
    assert user_service.server.requests_to("GET", user_service.status_path(created["notification_id"])) == []


# -- the scheduler (relay) -----------------------------------------------------------------------


def test_relay_publishes_a_scheduled_row_when_due_and_not_a_moment_before(rabbit_channel):
    due_at = timezone.now() + timedelta(minutes=10)
    row = scheduled_row(due_at=due_at)

    early = outbox_relay_batch(batch_size=10, grace_seconds=0, now=due_at - timedelta(milliseconds=1))
    assert early.published == 0
    assert published_ids(rabbit_channel) == []

    # No grace for scheduled rows: no after-commit publish races them.
    due = outbox_relay_batch(batch_size=10, grace_seconds=60, now=due_at)

    assert due.published == 1
    assert published_ids(rabbit_channel) == [str(row.notification_id)]
    row.refresh_from_db()
    assert row.published_at is not None
    assert NotificationRequest.objects.get(pk=row.notification_id).status == "pending"


def test_relay_takes_due_scheduled_rows_in_due_order_before_the_backlog(rabbit_channel):
    now = timezone.now()
    later = scheduled_row(due_at=now - timedelta(seconds=1))
    sooner = scheduled_row(due_at=now - timedelta(seconds=5))
    not_yet = scheduled_row(due_at=now + timedelta(seconds=5))
    backlog = OutboxMessageFactory()
    OutboxMessage.objects.filter(pk=backlog.pk).update(created_at=now - timedelta(minutes=1))

    outbox_relay_batch(batch_size=10, grace_seconds=0, now=now)

    assert published_ids(rabbit_channel) == [
        str(sooner.notification_id),
        str(later.notification_id),
        str(backlog.notification_id),
    ]
    not_yet.refresh_from_db()
    assert not_yet.published_at is None


def test_health_backlog_leaves_out_rows_not_yet_due():
    scheduled_row(due_at=timezone.now() + timedelta(days=3))
    overdue = scheduled_row(due_at=timezone.now() - timedelta(seconds=30))
    OutboxMessage.objects.filter(pk=overdue.pk).update(created_at=timezone.now() - timedelta(days=2))

    outbox = check_outbox()

    assert outbox["backlog"] == 1
    assert 30 <= outbox["oldest_age_seconds"] < 3600  # aged from its due time, not its creation


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_at_once_publish_each_due_row_exactly_once(rabbit_channel):
    due_at = timezone.now() - timedelta(seconds=1)
    rows = [scheduled_row(due_at=due_at) for _ in range(40)]
    start = threading.Barrier(2)
    results = []

    def scheduler():
        try:
            start.wait(10)
            while True:
                result = outbox_relay_batch(batch_size=5, grace_seconds=0)
                results.append(result.published)
                if result.taken == 0:
                    return
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    published = published_ids(rabbit_channel)
    assert sorted(published) == sorted(str(row.notification_id) for row in rows)
    assert sum(results) == 40
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_scheduler_skips_the_row_another_scheduler_holds(rabbit_channel):
    due_at = timezone.now() - timedelta(seconds=1)
    held, free = scheduled_row(due_at=due_at), scheduled_row(due_at=due_at + timedelta(milliseconds=1))
    locked, release = threading.Event(), threading.Event()

    def other_scheduler():
        try:
            with transaction.atomic():
                list(OutboxMessage.objects.select_for_update(skip_locked=True).filter(pk=held.pk))
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_scheduler)
    thread.start()
    assert locked.wait(10)
    try:
        result = outbox_relay_batch(batch_size=10, grace_seconds=0)
    finally:
        release.set()
        thread.join(10)

    assert result.published == 1
    assert published_ids(rabbit_channel) == [str(free.notification_id)]


@pytest.mark.django_db(transaction=True)
def test_relay_loop_publishes_a_scheduled_notification_within_2_s_of_send_at(send, user_service, rabbit_channel):
    """Measured on the running relay at the shipped poll interval (OUTBOX_RELAY_INTERVAL_SECONDS)."""
    from django.conf import settings

    assert settings.OUTBOX_RELAY_INTERVAL_SECONDS <= 1.0
    user_id = user_service.add_user()
    send_at = timezone.now() + timedelta(seconds=2)
    created = assert_envelope(send(notification_body(user_id, send_at=rfc3339(send_at))), status=202)["data"]
    # The relay stops on SIGTERM: sent once the row is published (or after a deadline).

    def stop_when_published():
        try:
            wait_until(
                lambda: OutboxMessage.objects.filter(
                    notification_id=created["notification_id"], published_at__isnull=False
                ).exists(),
                timeout=15,
            )
        finally:
            connections.close_all()
            os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=stop_when_published)
    watcher.start()
    call_command("relay_outbox", stdout=StringIO())
    watcher.join(5)

    row = OutboxMessage.objects.get(notification_id=created["notification_id"])
    assert row.published_at is not None
    lateness = (row.published_at - row.due_at).total_seconds()
    assert 0 <= lateness < 2.0
    assert published_ids(rabbit_channel) == [created["notification_id"]]
