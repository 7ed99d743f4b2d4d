"""PushConsumer end to end: real broker, unmodified firebase-admin against the loopback FCM
server, PostgreSQL; the template and user services stood in by loopback HTTP stubs."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from django.db import connection, transaction

from notification_common.circuit import CircuitBreaker
from notification_common.rabbitmq import PUSH_QUEUE
from notification_devtools.testing.rabbit import drain
from notification_devtools.testing.waiting import wait_until
from pushes.models import PushNotification
from pushes.queue_messages import parse_push_message
from pushes.services import push_records_ensure
from pushes.tests.conftest import delivery, devices_of, push_message, settle_followups

pytestmark = pytest.mark.django_db(transaction=True)


# -- the happy path ---------------------------------------------------------------------------


def test_push_to_three_devices_reaches_each_device_once_and_reports_delivered(
    consumer, publish, fcm, deps, user_service, template_service
):
    message = push_message(tokens=["tok-a", "tok-b", "tok-c"])
    publish(message)

    assert consumer.run(max_messages=1, idle_timeout=10) == 1

    received = fcm.messages
    assert sorted(m["token"] for m in received) == ["tok-a", "tok-b", "tok-c"]
    first = received[0]["message"]
    assert first["notification"] == {"title": "Hi Ada", "body": "Welcome aboard, Ada!"}
    assert first["data"] == {"screen": "home", "notification_id": message["notification_id"]}
    push = delivery(message["notification_id"])
    assert push.status == "delivered" and push.attempts == 1 and push.version == 3
    devices = devices_of(push.notification_id).values()
    assert all(d.status == "sent" and d.message_id and d.attempts == 1 for d in devices)
    settle_followups(deps)
    [report] = user_service.reports(message["notification_id"])
    assert report["status"] == "delivered" and report["user_id"] == message["user_id"]
    assert wait_until(lambda: delivery(message["notification_id"]).reported_status == "delivered", timeout=5)


def test_template_fetch_carries_the_trace_id_and_the_internal_key(consumer, publish, template_service, internal_key):
    message = push_message(tokens=["tok-a"])
    publish(message)

    consumer.run(max_messages=1, idle_timeout=10)

    [call] = template_service.calls
    assert call["path"] == "/api/v1/templates/welcome/active/"
    assert template_service.params_of(call) == {"language": "en"}
    assert call["headers"]["X-Request-ID"] == message["trace_id"]
    assert call["headers"]["X-API-Key"] == internal_key


# -- dead devices --------------------------------------------------------------------------------


def test_unregistered_device_is_deactivated_at_once_while_the_others_receive(
    consumer, publish, fcm, deps, user_service, internal_key, broker
):
    fcm.set_outcome("tok-b", "UNREGISTERED")
    message = push_message(tokens=["tok-a", "tok-b", "tok-c"])
    publish(message)

    consumer.run(max_messages=1, idle_timeout=10)

    assert sorted(m["token"] for m in fcm.messages) == ["tok-a", "tok-c"]
    devices = devices_of(message["notification_id"])
    assert devices["tok-b"].status == "failed" and devices["tok-b"].error_code == "UNREGISTERED"
    assert delivery(message["notification_id"]).status == "delivered"
    settle_followups(deps)
    [call] = user_service.deactivations
    assert call["json"] == {"token": "tok-b", "reason": "fcm:UNREGISTERED"}
    assert call["headers"]["X-API-Key"] == internal_key
    assert wait_until(lambda: devices_of(message["notification_id"])["tok-b"].deactivated_at is not None, timeout=5)
    assert fcm.attempts("tok-b") == 1  # never retried
    assert [drain(broker, q) for q in (PUSH_QUEUE, f"{PUSH_QUEUE}.retry.1")] == [[], []]


def test_sender_id_mismatch_and_invalid_token_deactivate_the_device(consumer, publish, fcm, deps, user_service):
    fcm.set_outcome("tok-other-project", "SENDER_ID_MISMATCH")
    publish(push_message(tokens=["tok-other-project", "invalid-token", "tok-ok"]))

    consumer.run(max_messages=1, idle_timeout=10)

    settle_followups(deps)
    assert sorted((c["json"]["token"], c["json"]["reason"]) for c in user_service.deactivations) == [
        ("invalid-token", "fcm:INVALID_ARGUMENT"),
        ("tok-other-project", "fcm:SENDER_ID_MISMATCH"),
    ]


def test_every_device_unregistered_fails_the_notification_permanently(
    consumer, publish, fcm, deps, user_service, failed_messages
):
    message = push_message(tokens=["unregistered-1", "unregistered-2"])
    publish(message)

    consumer.run(max_messages=1, idle_timeout=10)

    assert delivery(message["notification_id"]).status == "failed"
    [(body, headers)] = failed_messages()
    assert body["notification_id"] == message["notification_id"]
    assert headers["x-failure-kind"] == "permanent" and "UNREGISTERED" in headers["x-failure-reason"]
    settle_followups(deps)
    assert user_service.statuses(message["notification_id"]) == ["failed"]
    assert len(user_service.deactivations) == 2


def test_deactivation_is_retried_while_the_user_service_is_down(consumer, publish, fcm, deps, user_service):
    user_service.server.fail_next(4, status=503)  # more than the client's own retries
    message = push_message(tokens=["unregistered-1", "tok-ok"])
    publish(message)

    consumer.run(max_messages=1, idle_timeout=10)

    assert delivery(message["notification_id"]).status == "delivered"  # not held up
    settle_followups(deps)
    deactivations = user_service.deactivations
    assert deactivations and deactivations[-1]["json"]["token"] == "unregistered-1"
    notification_id = message["notification_id"]
    assert wait_until(lambda: devices_of(notification_id)["unregistered-1"].deactivated_at is not None, timeout=5)


# -- redelivery and chunks ------------------------------------------------------------------------


def test_redelivered_message_sends_nothing_new(consumer, publish, fcm, deps, user_service, template_service):
    message = push_message(tokens=["tok-a", "tok-b"])
    publish(message)
    consumer.run(max_messages=1, idle_timeout=10)

    publish(message)  # the same message again (redelivery, duplicate publish)
    consumer.run(max_messages=1, idle_timeout=10)

    assert len(fcm.messages) == 2
    assert {d.attempts for d in devices_of(message["notification_id"]).values()} == {1}
    assert len(template_service.calls) == 1
    settle_followups(deps)
    assert user_service.statuses(message["notification_id"]) == ["delivered"]


def test_same_notification_twice_in_one_batch_is_sent_once(consumer, publish, fcm):
    message = push_message(tokens=["tok-a"])
    publish(message)
    publish(message)

    consumer.run(max_messages=2, idle_timeout=10)

    assert len(fcm.messages) == 1


def test_600_devices_each_get_one_request(consumer, publish, fcm):
    tokens = [f"tok-{i:03d}" for i in range(600)]
    message = push_message(tokens=tokens)
    publish(message)

    consumer.run(max_messages=1, idle_timeout=20)

    assert len({m["token"] for m in fcm.messages}) == 600 and len(fcm.messages) == 600
    assert sum(fcm.attempts(token) for token in tokens) == 600
    devices = devices_of(message["notification_id"])
    assert len(devices) == 600 and {d.status for d in devices.values()} == {"sent"}


def test_several_messages_in_one_batch_are_all_delivered(make_consumer, publish, fcm):
    consumer = make_consumer(batch_size=10)
    messages = [push_message(tokens=[f"tok-{n}-a", f"tok-{n}-b"]) for n in range(10)]
    for message in messages:
        publish(message)

    assert consumer.run(max_messages=10, idle_timeout=10) == 10

    assert len(fcm.messages) == 20
    assert PushNotification.objects.filter(status="delivered").count() == 10


# -- malformed ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        json.dumps(["a", "list"]).encode(),
        json.dumps(push_message() | {"schema": 2}).encode(),
        json.dumps(push_message() | {"notification_id": "not-a-uuid"}).encode(),
        json.dumps(push_message() | {"recipient": {"push_tokens": []}}).encode(),
        json.dumps(push_message() | {"recipient": {"push_tokens": ["ok", 7]}}).encode(),
        json.dumps(push_message() | {"variables": "name=Ada"}).encode(),
    ],
    ids=["not-json", "not-object", "schema", "bad-uuid", "no-tokens", "non-string-token", "variables"],
)
def test_malformed_message_goes_to_failed_queue_and_never_loops(consumer, publish, fcm, body, failed_messages, broker):
    publish(body, message_id=str(uuid.uuid4()))

    assert consumer.run(max_messages=1, idle_timeout=10) == 1

    [(_, headers)] = failed_messages()
    assert headers["x-failure-kind"] == "malformed"
    assert fcm.attempts() == 0
    assert drain(broker, PUSH_QUEUE) == []
    assert not PushNotification.objects.exists()


def test_malformed_message_with_a_notification_id_is_reported_failed(consumer, publish, deps, user_service):
    message = push_message(recipient={"push_tokens": "tok-a"})
    publish(message)

    consumer.run(max_messages=1, idle_timeout=10)

    settle_followups(deps)
    [report] = user_service.reports(message["notification_id"])
    assert report["status"] == "failed" and "push_tokens" in report["error"]


# -- several consumers ------------------------------------------------------------------------------


def test_notification_held_by_another_worker_is_retried_not_sent_twice(make_consumer, publish, fcm, broker):
    message = push_message(tokens=["tok-a"])
    push_records_ensure(requests=[parse_push_message(message)])
    locked, release = threading.Event(), threading.Event()

    def other_worker():  # holds the row the way a worker in the middle of a send does
        try:
            with transaction.atomic():
                PushNotification.objects.select_for_update().get(notification_id=message["notification_id"])
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=other_worker)
    holder.start()
    assert locked.wait(5)
    consumer = make_consumer(retry_max_seconds=0.05)
    retries = []
    consumer.on_retry = lambda message, error, attempt, delay: retries.append(str(error))
    publish(message)
    try:
        consumer.run(max_messages=1, idle_timeout=10)
    finally:
        release.set()
        holder.join()

    assert fcm.messages == [] and retries and retries[0].startswith("concurrent_delivery")
    consumer.run(max_messages=1, idle_timeout=10)
    assert len(fcm.messages_for("tok-a")) == 1


class ManualClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_open_fcm_circuit_pauses_the_consumer_without_rendering_or_spending_an_attempt(
    consumer, publish, fcm, deps, template_service, broker
):
    # Given the FCM circuit open (on a clock the test moves) and one push waiting
    clock = ManualClock()
    deps.sender.breaker = CircuitBreaker("fcm", failure_threshold=1, reset_seconds=30, clock=clock)
    deps.sender.breaker.record_failure()
    retries = []
    consumer.on_retry = lambda message, error, attempt, delay: retries.append(str(error))
    message = push_message(tokens=["tok-a"])
    publish(message)

    # When the consumer runs while the circuit is open
    thread = threading.Thread(target=consumer.run, kwargs={"max_messages": 1}, daemon=True)
    thread.start()
    try:
        # Then it pauses on fcm: the message stays in the queue, nothing rendered or sent
        assert wait_until(
            lambda: consumer.state.paused and broker.queue_declare(PUSH_QUEUE, passive=True).method.message_count == 1,
            timeout=5,
        )
        assert consumer.state.dependency == "fcm"
        assert template_service.calls == [] and fcm.attempts() == 0

        # When the cool-down is over (half open: the next batch is the trial)
        clock.now += 31
        # Then it resumes and delivers the push on its first attempt
        thread.join(timeout=15)
        assert not thread.is_alive()
    finally:
        consumer.stop()
        thread.join(timeout=5)
    assert len(fcm.messages_for("tok-a")) == 1
    assert retries == [] and not consumer.state.paused
    assert delivery(message["notification_id"]).attempts == 1
    assert deps.sender.breaker.state == CircuitBreaker.CLOSED


def test_replay_that_cannot_send_yet_keeps_the_device_pending_for_its_retry(make_consumer, publish, fcm, deps):
    fcm.set_outcome("tok-b", "QUOTA_EXCEEDED", times=1, retry_after=None)
    message = push_message(tokens=["tok-a", "tok-b"])
    publish(message)
    make_consumer(max_attempts=1).run(max_messages=1, idle_timeout=10)
    for _ in range(deps.sender.breaker.failure_threshold):
        deps.sender.breaker.record_failure()  # FCM is down when the replay comes
    consumer = make_consumer(retry_max_seconds=0.05)
    # Not paused by the open circuit (that is tested above): here the batch itself meets it.
    consumer.blocking_dependency = lambda: None

    publish(message)
    consumer.run(max_messages=1, idle_timeout=10)

    assert devices_of(message["notification_id"])["tok-b"].status == "pending"
    deps.sender.breaker.record_success()
    consumer.run(max_messages=1, idle_timeout=10)
    assert len(fcm.messages_for("tok-b")) == 1 and len(fcm.messages_for("tok-a")) == 1
