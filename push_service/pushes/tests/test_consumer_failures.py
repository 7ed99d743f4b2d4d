"""PushConsumer end to end when a push fails: transient failures (FCM, the template service)
retried through the delay queues, permanent ones dead-lettered at once. Same setup as
test_consumer_delivery.py."""

from __future__ import annotations

import pytest

from pushes.constants import ERROR_ATTEMPTS_EXHAUSTED, MAX_PAYLOAD_BYTES
from pushes.tests.conftest import delivery, devices_of, push_message, settle_followups

pytestmark = pytest.mark.django_db(transaction=True)


# -- transient failures ------------------------------------------------------------------------


def test_unavailable_then_success_delivers_once_per_device_with_attempts_recorded(
    consumer, publish, fcm, deps, user_service
):
    # One HTTP attempt per send (stop_sdk_resends); the retry goes through the delay queue.
    fcm.set_outcome("tok-b", "UNAVAILABLE", times=1)
    message = push_message(tokens=["tok-a", "tok-b"])
    publish(message)

    assert consumer.run(max_messages=2, idle_timeout=20) == 2

    assert len(fcm.messages_for("tok-a")) == 1 and len(fcm.messages_for("tok-b")) == 1
    devices = devices_of(message["notification_id"])
    assert (devices["tok-a"].attempts, devices["tok-b"].attempts) == (1, 2)
    assert devices["tok-b"].status == "sent"
    push = delivery(message["notification_id"])
    assert push.status == "delivered" and push.attempts == 2
    settle_followups(deps)
    # delivered as soon as one device had it; the retry for the other does not report again
    assert user_service.statuses(message["notification_id"]) == ["delivered"]


def test_quota_exceeded_retries_only_the_failed_device_through_the_delay_queue(consumer, publish, fcm):
    # The SDK never retries a 429 itself: our retry does.
    fcm.set_outcome("tok-b", "QUOTA_EXCEEDED", times=1, retry_after=None)
    message = push_message(tokens=["tok-a", "tok-b", "tok-c"])
    publish(message)

    consumer.run(max_messages=2, idle_timeout=10)

    assert sorted(m["token"] for m in fcm.messages) == ["tok-a", "tok-b", "tok-c"]
    assert fcm.attempts("tok-a") == 1 and fcm.attempts("tok-b") == 2
    devices = devices_of(message["notification_id"])
    assert devices["tok-b"].attempts == 2 and devices["tok-b"].status == "sent"


def test_retry_does_not_render_again(consumer, publish, fcm, template_service):
    fcm.set_outcome("tok-b", "QUOTA_EXCEEDED", times=1, retry_after=None)
    publish(push_message(tokens=["tok-a", "tok-b"]))

    consumer.run(max_messages=2, idle_timeout=10)

    assert len(template_service.calls) == 1


def test_attempts_exhausted_fails_the_notification_and_dead_letters_it(
    make_consumer, publish, fcm, deps, user_service, failed_messages
):
    consumer = make_consumer(max_attempts=2)
    fcm.set_outcome("tok-a", "QUOTA_EXCEEDED", retry_after=None)  # every time
    message = push_message(tokens=["tok-a"])
    publish(message)

    consumer.run(max_messages=2, idle_timeout=10)

    [(_, headers)] = failed_messages()
    assert headers["x-failure-kind"] == "exhausted" and headers["x-attempt"] == 2
    device = devices_of(message["notification_id"])["tok-a"]
    assert device.status == "failed" and device.error_code == ERROR_ATTEMPTS_EXHAUSTED and device.attempts == 2
    assert delivery(message["notification_id"]).status == "failed"
    settle_followups(deps)
    assert user_service.statuses(message["notification_id"]) == ["pending", "failed"]


def test_replay_from_failed_queue_gives_exhausted_devices_another_chance(make_consumer, publish, fcm, failed_messages):
    consumer = make_consumer(max_attempts=1)
    fcm.set_outcome("tok-b", "QUOTA_EXCEEDED", times=1, retry_after=None)
    message = push_message(tokens=["tok-a", "tok-b"])
    publish(message)
    consumer.run(max_messages=1, idle_timeout=10)
    assert len(failed_messages()) == 0  # tok-a got it: delivered, acked, tok-b given up
    assert devices_of(message["notification_id"])["tok-b"].error_code == ERROR_ATTEMPTS_EXHAUSTED

    publish(message)  # e.g. replayed by an operator
    consumer.run(max_messages=1, idle_timeout=10)

    assert len(fcm.messages_for("tok-a")) == 1 and len(fcm.messages_for("tok-b")) == 1


def test_template_service_unreachable_is_retried_then_delivered(consumer, publish, fcm, template_service):
    template_service.server.fail_next(3, status=503)  # the first call and the client's 2 retries
    message = push_message(tokens=["tok-a"])
    publish(message)

    consumer.run(max_messages=2, idle_timeout=10)

    assert len(fcm.messages_for("tok-a")) == 1
    assert delivery(message["notification_id"]).attempts == 2


# -- permanent failures ------------------------------------------------------------------------


def test_oversized_payload_is_refused_as_permanent_and_nothing_is_sent(
    consumer, publish, fcm, deps, template_service, user_service, failed_messages
):
    template_service.add("huge", title="Big", body="x" * (MAX_PAYLOAD_BYTES + 1))
    message = push_message(template_code="huge")
    publish(message)

    consumer.run(max_messages=1, idle_timeout=10)

    assert fcm.messages == [] and fcm.attempts() == 0
    [(_, headers)] = failed_messages()
    assert headers["x-failure-kind"] == "permanent"
    assert headers["x-failure-reason"].startswith("payload_too_large")
    push = delivery(message["notification_id"])
    assert push.status == "failed" and push.last_error.startswith("payload_too_large")
    assert {d.error_code for d in devices_of(push.notification_id).values()} == {"payload_too_large"}
    settle_followups(deps)
    assert user_service.statuses(message["notification_id"]) == ["failed"]
    assert user_service.deactivations == []


def test_data_values_reach_fcm_as_strings(consumer, publish, fcm, template_service):
    # The template service stores data values as text; a number in its answer is still sent as one.
    template_service.add("counted", title="T", body="B", data={"count": 3, "who": "{{ name }}"})
    message = push_message(template_code="counted", tokens=["tok-a"])
    publish(message)

    consumer.run(max_messages=1, idle_timeout=10)

    [sent] = fcm.messages_for("tok-a")
    assert sent["message"]["data"]["count"] == "3" and sent["message"]["data"]["who"] == "Ada"


def test_unknown_template_is_permanent(consumer, publish, fcm, failed_messages):
    message = push_message(template_code="nope")
    publish(message)

    consumer.run(max_messages=1, idle_timeout=10)

    [(_, headers)] = failed_messages()
    assert headers["x-failure-reason"].startswith("template_not_found")
    assert delivery(message["notification_id"]).status == "failed"


def test_missing_variable_is_permanent_and_named(consumer, publish, failed_messages):
    publish(push_message(variables={}))

    consumer.run(max_messages=1, idle_timeout=10)

    [(_, headers)] = failed_messages()
    assert headers["x-failure-reason"] == "missing_variables: missing variables: name"
