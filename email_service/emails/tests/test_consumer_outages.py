"""The email consumer through real outages: a slow SMTP server (longer than the AMQP
heartbeat per message), an SMTP circuit that is open (pause, no attempt spent, health and
/metrics show it), and a transient failure that outlasts the retry budget."""

import time

import pytest

from emails.constants import HEARTBEAT_KEY, AttemptOutcome, DeliveryStatus
from emails.models import EmailAttempt, EmailNotification
from emails.tests.conftest import header, run_in_thread, wait_until
from notification_common.circuit import CircuitBreaker
from notification_common.heartbeat import heartbeat_read
from notification_common.rabbitmq import EMAIL_QUEUE, FAILED_QUEUE
from notification_devtools.loopback.smtp import LoopbackSMTPServer
from notification_devtools.testing.rabbit import drain

pytestmark = pytest.mark.django_db(transaction=True)


class SlowSMTPServer(LoopbackSMTPServer):
    """Takes ``delay_seconds`` to answer each DATA, as an overloaded relay does."""

    def __init__(self, *args, delay_seconds: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.delay_seconds = delay_seconds

    def _data_reply(self):
        time.sleep(self.delay_seconds)  # the slowness under test (aiosmtpd's loop waits with it)
        return super()._data_reply()


class ManualClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_smtp_slower_than_the_amqp_heartbeat_sends_every_email_once_on_one_connection(
    make_consumer, publish_email, settings, rabbit_channel
):
    # Given an SMTP server taking 3 s per email and a 1 s AMQP heartbeat (the broker drops a
    # connection that stays silent for ~2 s): one batch of two takes ~6 s
    with SlowSMTPServer(delay_seconds=3.0) as smtp:
        settings.SMTP_HOST, settings.SMTP_PORT = smtp.host, smtp.port
        bodies = [publish_email(), publish_email()]
        consumer = make_consumer(amqp_heartbeat_seconds=1, batch_size=10)
        opened = []
        original_open = consumer._open

        def counting_open():
            opened.append(True)
            original_open()

        consumer._open = counting_open

        # When the consumer handles them
        consumer.run(max_messages=2, idle_timeout=10)

        # Then each email arrived exactly once, after one attempt each, on the one connection
        received = [message.notification_id for message in smtp.messages]
    assert sorted(received) == sorted(body["notification_id"] for body in bodies)
    assert len(opened) == 1
    for body in bodies:
        delivery = EmailNotification.objects.get(notification_id=body["notification_id"])
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)
        assert EmailAttempt.objects.filter(delivery=delivery).count() == 1
    assert drain(rabbit_channel, EMAIL_QUEUE) == [] and drain(rabbit_channel, FAILED_QUEUE) == []


def test_open_smtp_circuit_pauses_the_consumer_then_it_resumes_and_delivers_once(
    make_consumer, publish_email, smtp_server, rabbit_channel, redis_client, api_client, internal_key
):
    # Given the SMTP circuit open (on a clock the test moves) and one email waiting
    clock = ManualClock()
    consumer = make_consumer()
    consumer.sender.breaker = CircuitBreaker("smtp", failure_threshold=1, reset_seconds=30, clock=clock)
    consumer.sender.breaker.record_failure()
    body = publish_email()

    # When the consumer runs
    thread = run_in_thread(consumer, max_messages=1)
    try:
        # Then it pauses on smtp: its heartbeat says so, the message stays in the queue and
        # nothing was claimed, sent or counted as an attempt
        beat = wait_until(
            lambda: (heartbeat_read(HEARTBEAT_KEY) or {}).get("paused") and heartbeat_read(HEARTBEAT_KEY), timeout=10
        )
        assert beat["dependency"] == "smtp" and beat["queue"] == EMAIL_QUEUE
        assert rabbit_channel.queue_declare(EMAIL_QUEUE, passive=True).method.message_count == 1
        assert smtp_server.messages == []
        assert not EmailNotification.objects.filter(notification_id=body["notification_id"]).exists()
        # ... health shows the consumer up but paused (alive and doing the right thing) ...
        consumer_check = api_client.get("/api/v1/health/", HTTP_X_API_KEY=internal_key).json()["data"]["checks"][
            "consumer"
        ]
        assert consumer_check["status"] == "up"
        assert (consumer_check["paused"], consumer_check["paused_on"]) == (True, "smtp")
        # ... and /metrics has the paused gauge
        metrics = api_client.get("/metrics").content.decode()
        assert 'notification_consumer_paused{dependency="smtp",queue="email.queue"} 1.0' in metrics

        # When the circuit's cool-down is over
        clock.now += 31
        thread.join(timeout=15)
        assert not thread.is_alive()
    finally:
        consumer.stop()
        thread.join(timeout=5)

    # Then the email went out once, on its first attempt
    assert len(smtp_server.find(notification_id=body["notification_id"])) == 1
    delivery = EmailNotification.objects.get(notification_id=body["notification_id"])
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)
    assert consumer.sender.breaker.state == CircuitBreaker.CLOSED


def test_smtp_451_is_retried_past_five_attempts_and_fails_only_when_the_budget_is_spent(
    make_consumer, publish_email, smtp_server, rabbit_channel, user_service
):
    # Given an SMTP server answering 451 to everything and a 1.5 s budget (quick backoff)
    smtp_server.fail_next(10_000, code=451)
    body = publish_email()
    consumer = make_consumer(retry_budget_seconds=1.5, retry_base_seconds=0.02, retry_max_seconds=0.05)
    # ... and a circuit that does not open (this test is about the budget, not the pause)
    consumer.sender.breaker = CircuitBreaker("smtp", failure_threshold=1_000_000)

    # When the consumer runs until nothing is left
    consumer.run(idle_timeout=3)

    # Then it was tried more than the old five times, and dead-lettered for the spent budget
    delivery = EmailNotification.objects.get(notification_id=body["notification_id"])
    assert delivery.attempts > 5
    assert delivery.status == DeliveryStatus.FAILED
    outcomes = set(delivery.attempt_log.values_list("outcome", flat=True))
    assert outcomes == {AttemptOutcome.TRANSIENT_FAILURE}
    [(_, properties)] = drain(rabbit_channel, FAILED_QUEUE)
    assert header(properties, "x-failure-kind") == "exhausted"
    assert header(properties, "x-failure-reason").startswith("retry_budget_exhausted: smtp_temporary_failure: 451")
    assert header(properties, "x-first-attempt-at")
    assert wait_until(lambda: "failed" in user_service.statuses(body["notification_id"]))
    assert smtp_server.messages == []
