"""BaseConsumer through real outages, against the real broker: the retry time budget, the
pause while a dependency's circuit is open, and batches longer than the AMQP heartbeat."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest

from notification_common.circuit import CircuitBreaker, CircuitOpenError
from notification_common.rabbitmq import (
    EMAIL_QUEUE,
    FAILED_QUEUE,
    PermanentError,
    Publisher,
    TransientError,
    open_circuit_of,
)
from notification_common.rabbitmq.topology import delay_tier_limit
from notification_devtools.testing.waiting import wait_until
from tests.test_rabbitmq_consumer import RecordingConsumer, fail_first_attempt, failed_messages

pytest_plugins = ["tests.rabbit_helpers"]


class ManualClock:
    """Unix-like seconds that only move when the test says so."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def iso(unix_seconds: float) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat(timespec="milliseconds")


@pytest.fixture
def publisher(rabbit_url, broker):
    publisher = Publisher(rabbit_url)
    yield publisher
    publisher.close()


class BreakerConsumer(RecordingConsumer):
    """Pauses while its dependency's breaker is open, like the email and push consumers."""

    def __init__(self, url, *, breaker: CircuitBreaker, **kwargs):
        super().__init__(url, **kwargs)
        self.breaker = breaker

    def blocking_dependency(self):
        return open_circuit_of(self.breaker)


def start(consumer, **run_kwargs) -> threading.Thread:
    thread = threading.Thread(target=consumer.run, kwargs=run_kwargs, daemon=True)
    thread.start()
    return thread


# -- the retry budget ----------------------------------------------------------------------


def test_transient_failure_is_retried_past_five_attempts_and_dead_lettered_when_the_budget_is_spent(
    rabbit_url, broker, publisher
):
    # Given a dependency that keeps failing, each retry waiting 10 minutes of (injected)
    # time, and a one-hour budget
    clock = ManualClock()
    started = clock.now
    finals = []

    class TenMinuteWaits(RecordingConsumer):
        def on_retry(self, message, error, next_attempt, delay_seconds):
            super().on_retry(message, error, next_attempt, delay_seconds)
            clock.advance(600)

    def failing(message):
        finals.append(consumer.is_final_attempt(message))
        raise TransientError("smtp 451 try later")

    consumer = TenMinuteWaits(
        rabbit_url,
        behaviour=failing,
        retry_budget_seconds=3600,
        retry_base_seconds=0.01,
        retry_max_seconds=0.02,
        clock=clock,
    )
    publisher.publish(EMAIL_QUEUE, {"n": 1}, message_id="m-1")

    # When the consumer runs until the message is settled for good
    consumer.run(max_messages=7, idle_timeout=5)

    # Then it was tried seven times (past the old five), the last one known to be final ...
    assert [m.attempt for _, m in consumer.seen] == [1, 2, 3, 4, 5, 6, 7]
    assert finals == [False] * 6 + [True]
    assert len(consumer.retries) == 6
    # ... every retry carried the budget's start ...
    assert {m.first_attempt_at for _, m in consumer.seen} == {started}
    # ... and only now, with the hour spent, is it a dead letter
    [(headers, raw)] = failed_messages(broker)
    assert json.loads(raw) == {"n": 1}
    assert headers["x-failure-kind"] == "exhausted"
    assert headers["x-failure-reason"].startswith("retry_budget_exhausted: smtp 451 try later")
    assert headers["x-first-attempt-at"] == iso(started)
    assert [h["attempt"] for h in json.loads(headers["x-history"])] == [1, 2, 3, 4, 5, 6, 7]
    assert broker.ready(EMAIL_QUEUE) == 0


def test_the_budget_counts_from_the_first_attempt_header_not_from_this_delivery(rabbit_url, broker, publisher):
    # Given a message first tried two days ago (a one-day budget), failing transiently again
    clock = ManualClock()
    publisher.publish(
        EMAIL_QUEUE, {"n": 1}, headers={"x-first-attempt-at": iso(clock.now - 2 * 86400), "x-attempt": 40}
    )
    consumer = RecordingConsumer(
        rabbit_url, behaviour=lambda m: (_ for _ in ()).throw(TransientError("451")), clock=clock
    )

    # When the consumer handles it
    consumer.run(max_messages=1, idle_timeout=5)

    # Then it is dead-lettered at once as exhausted, not retried
    [(headers, _)] = failed_messages(broker)
    assert headers["x-failure-kind"] == "exhausted"
    assert headers["x-failure-reason"].startswith("retry_budget_exhausted: 451")
    assert consumer.retries == []


def test_a_retry_never_waits_beyond_the_end_of_the_budget(rabbit_url, broker, publisher):
    # Given a message whose budget ends in 0.3 s while the backoff would be ~10 s
    clock = ManualClock()
    publisher.publish(EMAIL_QUEUE, {"n": 1}, headers={"x-first-attempt-at": iso(clock.now - 3600 + 0.3)})
    consumer = RecordingConsumer(
        rabbit_url,
        behaviour=fail_first_attempt,
        retry_budget_seconds=3600,
        retry_base_seconds=20,
        clock=clock,
    )

    consumer.run(max_messages=2, idle_timeout=5)

    # Then the one last retry is scheduled for when the budget runs out (and it is made)
    [(_, _, next_attempt, delay)] = consumer.retries
    assert next_attempt == 2
    assert delay == pytest.approx(0.3, abs=0.01)
    assert [m.attempt for _, m in consumer.seen] == [1, 2]


def test_backoff_is_capped_and_keeps_its_jitter_at_the_cap(rabbit_url):
    consumer = RecordingConsumer(rabbit_url, retry_base_seconds=5, retry_max_seconds=600)
    delays = [consumer.retry_delay(attempt) for attempt in range(1, 400) for _ in range(3)]
    assert all(0 < d <= 600 for d in delays)
    assert 2.5 <= consumer.retry_delay(1) <= 5
    at_cap = [consumer.retry_delay(50) for _ in range(50)]
    assert min(at_cap) >= 300 and len(set(at_cap)) > 1  # jittered in [300, 600]
    # The default tiers hold the cap in one pass (no top-tier round trips in normal operation)
    assert delay_tier_limit(5) >= 600


def test_a_delay_longer_than_the_tiers_hold_goes_round_the_top_tier_without_spending_an_attempt(
    rabbit_url, broker, publisher
):
    # Given tiers that hold at most ~0.26 s (tiny base) and a failure asking for 1.2 s
    def slow_down_once(message):
        if message.attempt == 1:
            raise TransientError("quota exceeded", retry_after=1.2)

    consumer = RecordingConsumer(rabbit_url, behaviour=slow_down_once, retry_base_seconds=0.0005, retry_max_seconds=5)
    assert delay_tier_limit(0.0005) < 0.3
    publisher.publish(EMAIL_QUEUE, {"n": 1})

    # When the consumer runs until the retry was handled
    consumer.run(max_messages=2, idle_timeout=5)

    # Then the retry came back no sooner than asked, as attempt 2 (the extra passes cost nothing)
    (t1, first), (t2, second) = consumer.seen
    assert t2 - t1 >= 1.15
    assert (first.attempt, second.attempt) == (1, 2)
    assert second.headers["x-death"][0]["count"] >= 2  # went round the top tier more than once
    assert broker.ready(FAILED_QUEUE) == 0


# -- pause while a circuit is open -----------------------------------------------------------


def test_open_circuit_pauses_consumption_then_resumes_without_spending_attempts(rabbit_url, broker, publisher):
    # Given the SMTP circuit open (30 s cool-down on an injected clock) and three waiting messages
    clock = ManualClock()
    breaker = CircuitBreaker("smtp", failure_threshold=1, reset_seconds=30, clock=clock)
    breaker.record_failure()
    for n in range(3):
        publisher.publish(EMAIL_QUEUE, {"n": n})
    consumer = BreakerConsumer(rabbit_url, breaker=breaker, clock=clock)

    # When the consumer runs
    thread = start(consumer, max_messages=3)
    try:
        # Then it is paused on smtp, takes nothing, and the messages stay ready in the queue
        wait_until(lambda: consumer.state.paused, what="paused")
        state = consumer.state.as_dict()
        assert (state["paused"], state["dependency"]) == (True, "smtp")
        assert 0 < state["retry_in_seconds"] <= 30
        assert broker.ready(EMAIL_QUEUE) == 3
        # ... and the oldest waiting message ages while it waits
        clock.advance(20)
        wait_until(lambda: consumer.state.oldest_message_age_seconds >= 20, what="oldest age grows")
        assert consumer.seen == []

        # When the cool-down is over (half open: the next call is the trial)
        clock.advance(11)
        thread.join(timeout=10)
    finally:
        consumer.stop()
        thread.join(timeout=5)

    # Then it resumed and handled every message on its first attempt
    assert sorted(m.body["n"] for _, m in consumer.seen) == [0, 1, 2]
    assert {m.attempt for _, m in consumer.seen} == {1}
    assert consumer.retries == [] and consumer.dead_letters == []
    assert not consumer.state.paused
    assert broker.ready(EMAIL_QUEUE) == 0 and broker.ready(FAILED_QUEUE) == 0


def test_prefetched_messages_go_back_unstarted_when_the_circuit_opens(rabbit_url, broker, publisher):
    # Given a dependency whose first failure opens its circuit, and a consumer that
    # prefetches several messages but handles one at a time
    clock = ManualClock()
    breaker = CircuitBreaker("smtp", failure_threshold=1, reset_seconds=30, clock=clock)

    def first_fails(message):
        if message.body["n"] == 0 and message.attempt == 1:
            breaker.record_failure()
            raise TransientError("smtp connection refused")
        breaker.record_success()

    for n in range(4):
        publisher.publish(EMAIL_QUEUE, {"n": n})
    consumer = BreakerConsumer(
        rabbit_url, breaker=breaker, behaviour=first_fails, batch_size=1, prefetch_count=10, clock=clock
    )
    consumer.retry_base_seconds = 0.05

    # When the first message fails and opens the circuit
    thread = start(consumer, max_messages=5)
    try:
        wait_until(lambda: consumer.state.paused, what="paused")
        # Then the prefetched three are back in the queue, untouched, and the failed one
        # returns from its delay queue as attempt 2 (a real failure spends an attempt)
        wait_until(lambda: broker.ready(EMAIL_QUEUE) == 4, what="all four waiting")
        assert [m.body["n"] for _, m in consumer.seen] == [0]

        # When the circuit's cool-down is over
        clock.advance(31)
        thread.join(timeout=10)
    finally:
        consumer.stop()
        thread.join(timeout=5)

    # Then every message was delivered; only the one that really failed used a second attempt
    attempts = {m.body["n"]: m.attempt for _, m in consumer.seen[1:]}
    assert attempts == {0: 2, 1: 1, 2: 1, 3: 1}
    assert broker.ready(EMAIL_QUEUE) == 0 and broker.ready(FAILED_QUEUE) == 0


def test_a_failure_caused_by_an_open_circuit_spends_no_attempt_and_is_never_dead_lettered(
    rabbit_url, broker, publisher
):
    # Given one batch of two: the first call fails for real and opens the circuit, so the
    # second fails fast with CircuitOpenError; at most one attempt allowed
    clock = ManualClock()
    breaker = CircuitBreaker("smtp", failure_threshold=1, reset_seconds=30, clock=clock)

    def send(message):
        if message.body["n"] == 1:
            breaker.record_failure()
            raise TransientError("smtp 421 closing")
        try:
            with breaker.attempt():
                pass
        except CircuitOpenError as exc:
            raise TransientError("smtp_circuit_open") from exc

    class BatchOfTwo(BreakerConsumer):
        batch_wait_seconds = 0.5

    publisher.publish(EMAIL_QUEUE, {"n": 1})
    publisher.publish(EMAIL_QUEUE, {"n": 2})
    consumer = BatchOfTwo(rabbit_url, breaker=breaker, behaviour=send, batch_size=2, max_attempts=1, clock=clock)

    # When the batch is handled, and later the circuit closes again
    thread = start(consumer, max_messages=3)
    try:
        wait_until(lambda: consumer.state.paused, what="paused")
        clock.advance(31)
        thread.join(timeout=10)
    finally:
        consumer.stop()
        thread.join(timeout=5)

    # Then the real failure was dead-lettered (its one attempt spent) ...
    [(headers, raw)] = failed_messages(broker)
    assert json.loads(raw) == {"n": 1}
    # ... while the one that never reached SMTP came back as attempt 1 and was delivered
    second = [m for _, m in consumer.seen if m.body["n"] == 2]
    assert [m.attempt for m in second] == [1, 1]
    assert second[-1].history == []
    assert breaker.state == CircuitBreaker.CLOSED
    assert broker.ready(EMAIL_QUEUE) == 0


# -- batches longer than the AMQP heartbeat ---------------------------------------------------


def test_a_batch_slower_than_the_amqp_heartbeat_keeps_its_connection_and_is_not_redelivered(
    rabbit_url, broker, publisher
):
    # Given a 1 s AMQP heartbeat (the broker drops a connection silent for ~2 s) and a
    # handler that takes 3 s per message
    class CountingConsumer(RecordingConsumer):
        opened = 0

        def _open(self):
            type(self).opened += 1
            super()._open()

    def slow(message):
        threading.Event().wait(3.0)

    for n in range(2):
        publisher.publish(EMAIL_QUEUE, {"n": n})
    consumer = CountingConsumer(rabbit_url, behaviour=slow, amqp_heartbeat_seconds=1, batch_size=1)

    # When both are handled
    assert consumer.run(max_messages=2, idle_timeout=10) == 2

    # Then each was handled once, never redelivered, on the one connection
    assert [m.body["n"] for _, m in consumer.seen] == [0, 1]
    assert [m.redelivered for _, m in consumer.seen] == [False, False]
    assert CountingConsumer.opened == 1
    assert broker.ready(EMAIL_QUEUE) == 0


# -- acks ------------------------------------------------------------------------------------


def test_a_mixed_batch_is_settled_exactly_once_each(rabbit_url, broker, publisher):
    # Given one batch: two successes, a transient failure, a success, a permanent failure, a success
    outcomes = {0: None, 1: None, 2: "transient", 3: None, 4: "permanent", 5: None}

    class MixedBatch(RecordingConsumer):
        batch_wait_seconds = 0.5

    def behaviour(message):
        outcome = outcomes[message.body["n"]] if message.attempt == 1 else None
        if outcome == "transient":
            raise TransientError("451")
        if outcome == "permanent":
            raise PermanentError("550")

    for n in outcomes:
        publisher.publish(EMAIL_QUEUE, {"n": n})
    consumer = MixedBatch(rabbit_url, behaviour=behaviour, batch_size=6, retry_base_seconds=0.05)

    # When the batch and the one retry are handled
    assert consumer.run(max_messages=7, idle_timeout=5) == 7

    # Then each message was handled once (the transient one twice), none redelivered, one dead letter
    handled = [(m.body["n"], m.attempt) for _, m in consumer.seen]
    assert sorted(handled) == [(0, 1), (1, 1), (2, 1), (2, 2), (3, 1), (4, 1), (5, 1)]
    assert not any(m.redelivered for _, m in consumer.seen)
    assert [json.loads(raw)["n"] for _, raw in failed_messages(broker)] == [4]
    assert broker.ready(EMAIL_QUEUE) == 0


def test_the_oldest_waiting_message_age_comes_from_the_publish_timestamp(rabbit_url, broker, publisher):
    # Given a message as the publisher sent it (its AMQP timestamp is whole unix seconds), read
    # back and put back unchanged so the test knows that timestamp ...
    publisher.publish(EMAIL_QUEUE, {"n": 1})
    _, properties, raw = broker.get(EMAIL_QUEUE)
    published_at = properties.timestamp
    assert isinstance(published_at, int) and published_at > 0
    publisher.publish(EMAIL_QUEUE, raw, properties=properties)
    # ... and a consumer whose clock reads exactly two minutes (and a half second) after it
    seen_ages = []
    consumer = RecordingConsumer(
        rabbit_url,
        behaviour=lambda message: seen_ages.append(consumer.state.oldest_message_age_seconds),
        clock=lambda: published_at + 120.5,
    )

    # When it is handled, and the queue then stays empty
    consumer.run(idle_timeout=1)

    # Then while handling it the oldest waiting message was exactly that old, and 0 once drained
    assert seen_ages == [120.5]
    assert consumer.state.oldest_message_age_seconds == 0
