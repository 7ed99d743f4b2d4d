"""The push consumer through long outages: transient FCM failures retried for a time budget
(not five attempts), and a paused consumer as health and /metrics show it."""

from __future__ import annotations

import pytest

from notification_common.circuit import CircuitBreaker
from notification_common.heartbeat import heartbeat_read, heartbeat_write
from notification_devtools.testing import assert_envelope
from pushes.constants import ERROR_ATTEMPTS_EXHAUSTED, HEARTBEAT_KEY
from pushes.models import PushDeviceResult, PushNotification
from pushes.tests.conftest import push_message

pytestmark = pytest.mark.django_db(transaction=True)


def test_fcm_quota_exceeded_is_retried_past_five_attempts_until_the_budget_is_spent(
    make_consumer, publish, fcm, deps, failed_messages
):
    # Given FCM answering QUOTA_EXCEEDED to every send, a 4 s budget (quick backoff) and no
    # attempt cap; the circuit kept closed (this test is about the budget, not the pause)
    deps.sender.breaker = CircuitBreaker("fcm", failure_threshold=1_000_000)
    fcm.set_outcome("tok-a", "QUOTA_EXCEEDED", retry_after=None)
    message = push_message(tokens=["tok-a"])
    publish(message)
    consumer = make_consumer(max_attempts=0, retry_budget_seconds=4, retry_base_seconds=0.02, retry_max_seconds=0.05)

    # When the consumer runs until nothing is left
    consumer.run(idle_timeout=3)

    # Then it was tried more than the old five times, and dead-lettered for the spent budget
    [(_, headers)] = failed_messages()
    assert headers["x-failure-kind"] == "exhausted"
    assert headers["x-failure-reason"].startswith("retry_budget_exhausted: ")
    assert headers["x-attempt"] > 5
    notification = PushNotification.objects.get(notification_id=message["notification_id"])
    assert notification.status == "failed" and notification.attempts > 5
    device = PushDeviceResult.objects.get(notification=notification, token="tok-a")
    assert device.status == "failed" and device.error_code == ERROR_ATTEMPTS_EXHAUSTED
    assert fcm.messages_for("tok-a") == []


def test_a_paused_consumer_is_up_in_health_and_paused_in_metrics(api_client, redis_client, internal_key):
    # Given a consumer heartbeat saying it is paused on the FCM circuit, a message waiting 42 s
    state = {
        "queue": "push.queue",
        "paused": True,
        "dependency": "fcm",
        "retry_in_seconds": 12.5,
        "oldest_message_age_seconds": 42.0,
    }
    heartbeat_write(HEARTBEAT_KEY, name="test-consumer", state=state)

    # Then health counts the consumer up (alive and holding messages back on purpose) ...
    body = assert_envelope(api_client.get("/api/v1/health/", HTTP_X_API_KEY=internal_key), status=200)
    check = body["data"]["checks"]["consumer"]
    assert check["status"] == "up"
    assert (check["paused"], check["paused_on"], check["retry_in_seconds"]) == (True, "fcm", 12.5)
    assert check["oldest_message_age_seconds"] == 42.0
    # ... and /metrics shows the pause and the waiting message's age
    metrics = api_client.get("/metrics").content.decode()
    assert 'notification_consumer_paused{dependency="fcm",queue="push.queue"} 1.0' in metrics
    assert 'notification_consumer_oldest_message_age_seconds{queue="push.queue"} 42.0' in metrics


def test_a_running_consumer_reports_not_paused(api_client, redis_client, internal_key):
    state = {"queue": "push.queue", "paused": False, "oldest_message_age_seconds": 0}
    heartbeat_write(HEARTBEAT_KEY, name="test-consumer", state=state)

    check = api_client.get("/api/v1/health/", HTTP_X_API_KEY=internal_key).json()["data"]["checks"]["consumer"]
    metrics = api_client.get("/metrics").content.decode()

    assert check["paused"] is False and "paused_on" not in check
    assert 'notification_consumer_paused{dependency="",queue="push.queue"} 0.0' in metrics


def test_the_running_consumer_beats_its_state_under_the_push_heartbeat_key(consumer, redis_client):
    # Given no heartbeat yet, when a consumer runs idle for a moment (nothing else beats for it)
    consumer.run(idle_timeout=0.3)

    # Then the base's loop wrote the push key with the consumer's name and state
    beat = heartbeat_read(HEARTBEAT_KEY)
    assert beat is not None and beat["age_seconds"] < 5
    assert (beat["consumer"], beat["queue"], beat["paused"]) == (consumer.name, "push.queue", False)
