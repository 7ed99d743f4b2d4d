"""Push claims: claims are committed before FCM is called and results recorded after, each in its
own transaction, so a failure after FCM accepted a push never sends it again; a worker whose
claim was taken over sends nothing; final states never go back (docs/push_service.md,
"State machine")."""

from __future__ import annotations

import sys
import threading
import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.db.backends.signals import connection_created
from django.utils import timezone

from notification_devtools.testing.processes import kill_9_when
from notification_devtools.testing.rabbit import drain
from notification_devtools.testing.waiting import wait_until
from pushes.clients import TemplateRenderer
from pushes.constants import ERROR_OUTCOME_UNKNOWN
from pushes.consumer import PushConsumer
from pushes.models import PushDeviceResult, PushNotification
from pushes.queue_messages import parse_push_message
from pushes.services import DeliveryDependencies, push_mark_failed
from pushes.services.claims import push_batch_claim, push_devices_mark_and_write, push_records_ensure
from pushes.tests.conftest import SERVICE_DIR, push_message
from pushes.tests.factories import PushNotificationFactory
from pushes.transport import PushService

pytestmark = pytest.mark.django_db(transaction=True)

SHORT_LEASE = 0.5
_DEVICE_UPDATE = f'UPDATE "{PushDeviceResult._meta.db_table}" AS t'


def devices_of(notification_id) -> dict[str, PushDeviceResult]:
    return {d.token: d for d in PushDeviceResult.objects.filter(notification__notification_id=notification_id)}


def delivery(notification_id) -> PushNotification:
    return PushNotification.objects.get(notification_id=notification_id)


def _lease_over(notification_id) -> bool:
    lease_end = delivery(notification_id).lease_expires_at
    return lease_end is None or lease_end < timezone.now()


class _FailDeviceResultWrites:
    """Database failure injected at the boundary: the statement that stores device results
    (after FCM answered) fails ``times`` times, on whichever thread's connection runs it
    (the consumer base runs handlers in a worker thread)."""

    def __init__(self, times: int):
        self.remaining = times

    def __call__(self, execute, sql, params, many, context):
        if self.remaining and sql.startswith(_DEVICE_UPDATE):
            self.remaining -= 1
            raise OperationalError("injected: the database went away")
        return execute(sql, params, many, context)


@contextmanager
def failing_device_result_writes(times: int):
    failure = _FailDeviceResultWrites(times)

    def install(sender, connection, **kwargs):
        if failure not in connection.execute_wrappers:
            connection.execute_wrappers.append(failure)

    connection_created.connect(install)
    try:
        yield failure
    finally:
        connection_created.disconnect(install)
        failure.remaining = 0  # a connection that still holds it passes everything through


# -- results are recorded after FCM, in their own transaction -------------------------------------
def test_pushes_fcm_accepted_are_never_sent_again_when_recording_their_results_fails(
    make_consumer, publish, fcm, deps, failed_messages
):
    # Given a push to two devices whose results cannot be stored (the database is lost
    # right after FCM accepted both)
    deps.lease_seconds = SHORT_LEASE
    message = push_message(tokens=["tok-a", "tok-b"])
    publish(message)
    consumer = make_consumer(retry_max_seconds=0.05)
    with failing_device_result_writes(times=10):
        consumer.run(max_messages=1, idle_timeout=10)
    assert len(fcm.messages_for("tok-a")) == 1 and len(fcm.messages_for("tok-b")) == 1

    # When the database is back and the retried message is handled after the claim ran out
    assert wait_until(lambda: _lease_over(message["notification_id"]), timeout=5)
    consumer.run(max_messages=1, idle_timeout=10)

    # Then no device got a second push: their outcome is unknown, so they are not sent again
    assert len(fcm.messages_for("tok-a")) == 1 and len(fcm.messages_for("tok-b")) == 1
    devices = devices_of(message["notification_id"])
    assert {(d.status, d.error_code) for d in devices.values()} == {("failed", ERROR_OUTCOME_UNKNOWN)}
    notification = delivery(message["notification_id"])
    assert notification.status == "failed" and notification.last_error.startswith(ERROR_OUTCOME_UNKNOWN)
    [(_, headers)] = failed_messages()
    assert ERROR_OUTCOME_UNKNOWN in str(headers["x-failure-reason"])


def test_results_are_stored_when_the_first_try_to_record_them_fails(make_consumer, publish, fcm, deps, user_service):
    message = push_message(tokens=["tok-a", "tok-b"])
    publish(message)

    with failing_device_result_writes(times=1) as failure:
        make_consumer().run(max_messages=1, idle_timeout=10)

    assert failure.remaining == 0  # the first try to store the results did fail
    assert len(fcm.messages_for("tok-a")) == 1 and len(fcm.messages_for("tok-b")) == 1
    assert {d.status for d in devices_of(message["notification_id"]).values()} == {"sent"}
    notification = delivery(message["notification_id"])
    assert (notification.status, notification.attempts, notification.lease_expires_at) == ("delivered", 1, None)
    assert deps.reporter.flush(timeout=5)
    assert user_service.statuses(message["notification_id"]) == ["delivered"]


def test_the_sending_mark_reaches_the_database_before_fcm_gets_the_push_and_commits_without_the_worker(
    make_consumer, publish, fcm
):
    # Given an FCM server that looks at our database (from its own thread and connection, so it
    # sees committed rows only) when a push arrives, before it answers: the worker is waiting
    # for that answer, so whatever it sees then was committed without the worker's help
    message = push_message(tokens=["tok-a"])
    seen = []

    def status():
        row = PushDeviceResult.objects.filter(notification__notification_id=message["notification_id"])
        return row.values_list("status", "notification__claim_token").get()

    def look(_message) -> None:
        try:
            wait_until(lambda: status()[0] != "pending", timeout=5)
            seen.append(status())
        finally:
            connection.close()

    fcm._on_message = look  # the server's hook for received messages (set at construction otherwise)
    publish(message)

    make_consumer().run(max_messages=1, idle_timeout=10)

    # Then the claim and the device's "sending" mark were in the database while FCM held the push
    [(device_status, claim_token)] = seen
    assert device_status == "sending" and claim_token is not None
    assert devices_of(message["notification_id"])["tok-a"].status == "sent"


def test_worker_killed_with_its_push_at_fcm_leaves_it_sending_and_it_is_not_sent_again(
    push_process_env, make_consumer, publish, fcm, deps, failed_messages
):
    # Given a consumer process with a 1 s lease, and an FCM server that keeps its answer
    received, release = threading.Event(), threading.Event()

    def hold(_message) -> None:
        received.set()
        release.wait(30)

    fcm._on_message = hold
    message = push_message(tokens=["tok-a"])
    publish(message)
    try:
        # When the process is killed -9 once FCM has the push, before its answer was read
        kill_9_when(
            [sys.executable, "manage.py", "consume_push", "--batch-size", "1", "--prefetch", "1"],
            received,
            cwd=SERVICE_DIR,
            env={**push_process_env, "PUSH_SENDING_LEASE_SECONDS": "1"},
            timeout=30,
            what="push",
        )
    finally:
        release.set()

    # Then the device is marked sending (the mark went ahead of the request; nobody read its answer)
    notification_id = message["notification_id"]
    assert wait_until(lambda: devices_of(notification_id)["tok-a"].status == "sending", timeout=5)
    assert wait_until(lambda: _lease_over(notification_id), timeout=5)
    # ... and the redelivered message, handled after the lease ran out, does not send it again
    deps.lease_seconds = SHORT_LEASE
    make_consumer().run(max_messages=1, idle_timeout=10)
    assert len(fcm.messages_for("tok-a")) == 1
    device = devices_of(notification_id)["tok-a"]
    assert (device.status, device.error_code) == ("failed", ERROR_OUTCOME_UNKNOWN)
    [(_, headers)] = failed_messages()
    assert ERROR_OUTCOME_UNKNOWN in str(headers["x-failure-reason"])


def test_a_claim_taken_over_after_a_stale_lease_writes_nothing(deps):
    # Given a claimed push whose lease was last renewed more than half a lease ago, and that
    # another worker claimed since
    [item] = _claimed(push_message(tokens=["tok-a"]), lease_seconds=60)
    item.lease_renewed_at -= 31
    PushNotification.objects.filter(pk=item.notification.pk).update(claim_token=uuid.uuid4())
    writes = []

    # When its device's request is ready to go
    sent = push_devices_mark_and_write(item=item, tokens=("tok-a",), lease_seconds=60, write=lambda: writes.append(1))

    # Then the lease renewal (awaited) finds the claim gone: nothing is written or marked
    assert (sent, writes, item.taken_over) == (False, [], True)
    assert devices_of(item.request.notification_id)["tok-a"].status == "pending"


def test_a_fresh_lease_marks_and_renews_it_with_the_write(deps):
    # Given a claimed push (its lease just taken)
    [item] = _claimed(push_message(tokens=["tok-a", "tok-b"]), lease_seconds=60)
    before = delivery(item.request.notification_id).lease_expires_at
    order = []

    def write() -> None:
        order.append("write")

    # When tok-b's request goes
    sent = push_devices_mark_and_write(item=item, tokens=("tok-b",), lease_seconds=60, write=write)

    # Then it was written once, tok-b alone is marked, and the lease was renewed by the mark
    assert (sent, order) == (True, ["write"])
    devices = devices_of(item.request.notification_id)
    assert (devices["tok-a"].status, devices["tok-b"].status) == ("pending", "sending")
    assert delivery(item.request.notification_id).lease_expires_at > before


def _claimed(body: dict, *, lease_seconds: float):
    request = parse_push_message(body)
    push_records_ensure(requests=[request])
    results = [None]
    return push_batch_claim(unique=[(0, request)], results=results, lease_seconds=lease_seconds)


# -- a stalled worker whose claim was taken over sends nothing ------------------------------------
def test_worker_stalled_past_its_lease_sends_nothing_once_another_took_over(
    make_consumer, publish, fcm, deps, template_service, service_account, push_rabbitmq_url
):
    # Given worker A whose render stalls longer than its lease
    deps.lease_seconds = SHORT_LEASE
    release = template_service.hold(lambda code: len(template_service.calls) == 1)
    message = push_message(tokens=["tok-a"])
    publish(message)
    first = make_consumer(prefetch_count=1, batch_size=1)

    def run_first():
        try:
            first.run(max_messages=1, idle_timeout=10)
        finally:
            connection.close()

    thread = threading.Thread(target=run_first, daemon=True)
    thread.start()
    other_sender = PushService(
        service_account_path=service_account, endpoint=fcm.url, app_name=f"push-test-b-{uuid.uuid4().hex[:6]}"
    )
    try:
        assert wait_until(lambda: len(template_service.calls) == 1, timeout=5)
        assert wait_until(lambda: _lease_over(message["notification_id"]), timeout=5)

        # When worker B handles a redelivered copy meanwhile, then A's render comes back
        publish(message)
        second = PushConsumer(
            push_rabbitmq_url,
            deps=DeliveryDependencies(sender=other_sender, renderer=TemplateRenderer(), lease_seconds=SHORT_LEASE),
            retry_base_seconds=0.05,
            max_attempts=3,
        )
        second.run(max_messages=1, idle_timeout=10)
        assert len(fcm.messages_for("tok-a")) == 1
    finally:
        release.set()
        thread.join(10)
        other_sender.close()
    assert not thread.is_alive()

    # Then the device got one push, recorded by B
    assert len(fcm.messages_for("tok-a")) == 1
    assert devices_of(message["notification_id"])["tok-a"].status == "sent"
    assert delivery(message["notification_id"]).status == "delivered"


# -- final states never go back ------------------------------------------------------------------
def test_dead_letter_does_not_fail_a_delivered_push():
    delivered = PushNotificationFactory(status="delivered")

    assert push_mark_failed(notification_id=delivered.notification_id, failure_reason="malformed") is False

    delivered.refresh_from_db()
    assert delivered.status == "delivered"


def test_dead_letter_does_not_fail_a_push_under_a_live_claim():
    claimed = PushNotificationFactory(
        status="pending", claim_token=uuid.uuid4(), lease_expires_at=timezone.now() + timedelta(seconds=60)
    )

    assert push_mark_failed(notification_id=claimed.notification_id, failure_reason="malformed") is False

    claimed.refresh_from_db()
    assert claimed.status == "pending"


def test_dead_letter_fails_a_pending_push_and_may_report_an_unknown_one():
    pending = PushNotificationFactory(
        status="pending", claim_token=uuid.uuid4(), lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert push_mark_failed(notification_id=pending.notification_id, failure_reason="malformed: x") is True
    assert push_mark_failed(notification_id=uuid.uuid4(), failure_reason="malformed: x") is True

    pending.refresh_from_db()
    assert (pending.status, pending.last_error, pending.claim_token) == ("failed", "malformed: x", None)


def test_redelivered_copy_of_a_finished_push_is_acked_without_claiming(make_consumer, publish, fcm, broker):
    message = push_message(tokens=["tok-a"])
    publish(message)
    make_consumer().run(max_messages=1, idle_timeout=10)

    publish(message)
    make_consumer().run(max_messages=1, idle_timeout=10)

    assert len(fcm.messages_for("tok-a")) == 1
    assert delivery(message["notification_id"]).lease_expires_at is None
    assert drain(broker, "failed.queue") == []


def test_malformed_copy_of_a_delivered_push_is_dead_lettered_without_reporting_failed(
    make_consumer, publish, fcm, deps, user_service, failed_messages
):
    # Given a delivered push
    message = push_message(tokens=["tok-a"])
    publish(message)
    make_consumer().run(max_messages=1, idle_timeout=10)
    assert deps.reporter.flush(timeout=5)

    # When a malformed copy of its message arrives
    publish(message | {"recipient": {"push_tokens": "tok-a"}})
    make_consumer().run(max_messages=1, idle_timeout=10)

    # Then the copy is dead-lettered, the push stays delivered and no "failed" is reported
    assert deps.reporter.flush(timeout=5)
    assert len(failed_messages()) == 1
    assert delivery(message["notification_id"]).status == "delivered"
    assert user_service.statuses(message["notification_id"]) == ["delivered"]
