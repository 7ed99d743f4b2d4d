"""BaseConsumer against the real broker: ack, retry through delay queues, dead letters, stop."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from notification_common.rabbitmq import (
    EMAIL_QUEUE,
    FAILED_QUEUE,
    BaseConsumer,
    ConsumedMessage,
    MalformedMessage,
    PermanentError,
    Publisher,
    StoringConsumer,
    TransientError,
)
from notification_devtools.testing.waiting import wait_until

pytest_plugins = ["tests.rabbit_helpers"]


class RecordingConsumer(BaseConsumer):
    """Records every message handled; ``behaviour(message)`` may raise."""

    queue = EMAIL_QUEUE

    def __init__(self, url, *, behaviour=None, **kwargs):
        super().__init__(url, **kwargs)
        self.behaviour = behaviour
        self.seen: list[tuple[float, ConsumedMessage]] = []
        self.retries: list[tuple] = []
        self.dead_letters: list[tuple] = []

    def handle(self, message: ConsumedMessage) -> None:
        self.seen.append((time.monotonic(), message))
        if self.behaviour is not None:
            self.behaviour(message)

    def on_retry(self, message, error, next_attempt, delay_seconds) -> None:
        self.retries.append((message, error, next_attempt, delay_seconds))

    def on_dead_letter(self, message, reason) -> None:
        self.dead_letters.append((message, reason))


@pytest.fixture
def publisher(rabbit_url, broker):
    publisher = Publisher(rabbit_url)
    yield publisher
    publisher.close()


def raise_(error):
    def behaviour(message):
        raise error

    return behaviour


def fail_first_attempt(message):
    if message.attempt == 1:
        raise TransientError("smtp 421 try later")


def subscribers(broker, queue: str) -> int:
    """Consumers the broker counts on ``queue`` (a passive declare touches no message)."""
    return broker.channel.queue_declare(queue=queue, passive=True).method.consumer_count


def failed_messages(broker):
    return [(props.headers, raw) for _, props, raw in broker.drain(FAILED_QUEUE)]


# -- success -----------------------------------------------------------------------


def test_successful_message_is_acked_and_leaves_the_queue(rabbit_url, broker, publisher):
    # Given one message with a request id
    publisher.publish(EMAIL_QUEUE, {"n": 1}, message_id="m-1", headers={"x-request-id": "req-1"})
    consumer = RecordingConsumer(rabbit_url)
    # When the consumer handles it (run() closes its connection on return, so an
    # unacked message would be back in the queue)
    assert consumer.run(max_messages=1, idle_timeout=5) == 1
    # Then the handler saw the parsed message and the queue is empty, nothing requeued
    [(_, message)] = consumer.seen
    assert message.body == {"n": 1}
    assert (message.attempt, message.message_id, message.request_id) == (1, "m-1", "req-1")
    assert message.history == []
    assert broker.ready(EMAIL_QUEUE) == 0
    assert broker.ready(FAILED_QUEUE) == 0


# -- transient failures --------------------------------------------------------------


def test_transient_error_comes_back_after_the_delay_with_attempt_2_and_history(rabbit_url, broker, publisher):
    # Given a handler that fails transiently on the first attempt only
    publisher.publish(EMAIL_QUEUE, {"n": 1}, message_id="m-1", headers={"x-request-id": "req-1"})
    consumer = RecordingConsumer(rabbit_url, behaviour=fail_first_attempt, retry_base_seconds=0.2)
    # When the consumer runs
    assert consumer.run(max_messages=2, idle_timeout=5) == 2
    # Then the message came back through a delay queue after ~0.1-0.2 s, as attempt 2
    (t1, first), (t2, second) = consumer.seen
    assert (first.attempt, second.attempt) == (1, 2)
    assert t2 - t1 >= 0.09
    assert second.body == {"n": 1} and second.raw == first.raw
    assert (second.message_id, second.request_id) == ("m-1", "req-1")
    assert len(second.history) == 1
    assert second.history[0]["attempt"] == 1
    assert second.history[0]["kind"] == "transient"
    assert second.history[0]["error"] == "smtp 421 try later"
    assert broker.ready(EMAIL_QUEUE) == 0
    assert broker.ready(FAILED_QUEUE) == 0


def test_after_max_attempts_the_message_is_dead_lettered_as_exhausted(rabbit_url, broker, publisher):
    # Given a handler that always fails transiently and max_attempts=3
    publisher.publish(EMAIL_QUEUE, {"n": 1}, message_id="m-1")
    always_fail = raise_(TransientError("connection refused"))
    consumer = RecordingConsumer(rabbit_url, behaviour=always_fail, max_attempts=3, retry_base_seconds=0.05)
    # When the consumer runs through every attempt
    assert consumer.run(max_messages=3, idle_timeout=5) == 3
    # Then it was tried 3 times and now sits in failed.queue with its history
    assert [m.attempt for _, m in consumer.seen] == [1, 2, 3]
    [(headers, raw)] = failed_messages(broker)
    assert json.loads(raw) == {"n": 1}
    assert headers["x-failure-kind"] == "exhausted"
    assert headers["x-failure-reason"] == "max_attempts_exceeded: connection refused"
    assert headers["x-attempt"] == 3
    assert headers["x-original-queue"] == EMAIL_QUEUE
    assert headers["x-failed-at"]
    history = json.loads(headers["x-history"])
    assert [(h["attempt"], h["kind"], h["error"]) for h in history] == [
        (1, "transient", "connection refused"),
        (2, "transient", "connection refused"),
        (3, "transient", "connection refused"),
    ]
    assert broker.ready(EMAIL_QUEUE) == 0


def test_unexpected_exception_is_retried_like_a_transient_error(rabbit_url, broker, publisher):
    # Given a handler with a bug on the first attempt
    def buggy(message):
        if message.attempt == 1:
            raise KeyError("oops")

    publisher.publish(EMAIL_QUEUE, {"n": 1})
    consumer = RecordingConsumer(rabbit_url, behaviour=buggy, retry_base_seconds=0.05)
    # When the consumer runs
    consumer.run(max_messages=2, idle_timeout=5)
    # Then the message was retried, not lost and not dead-lettered
    assert [m.attempt for _, m in consumer.seen] == [1, 2]
    assert "KeyError" in consumer.seen[1][1].history[0]["error"]
    assert broker.ready(FAILED_QUEUE) == 0


def test_retry_after_longer_than_the_backoff_is_honoured(rabbit_url, broker, publisher):
    # Given a transient error asking for 0.4 s while the backoff would be ~0.05 s
    def slow_down(message):
        if message.attempt == 1:
            raise TransientError("quota exceeded", retry_after=0.4)

    publisher.publish(EMAIL_QUEUE, {"n": 1})
    consumer = RecordingConsumer(rabbit_url, behaviour=slow_down, retry_base_seconds=0.05)
    # When the consumer runs
    consumer.run(max_messages=2, idle_timeout=5)
    # Then the retry waited at least retry_after
    (t1, _), (t2, _) = consumer.seen
    assert t2 - t1 >= 0.39
    assert consumer.retries[0][3] == pytest.approx(0.4)


def test_on_retry_hook_receives_the_error_next_attempt_and_delay(rabbit_url, broker, publisher):
    # Given a handler that fails transiently once
    publisher.publish(EMAIL_QUEUE, {"n": 1})
    consumer = RecordingConsumer(rabbit_url, behaviour=fail_first_attempt, retry_base_seconds=0.2)
    # When the consumer runs
    consumer.run(max_messages=2, idle_timeout=5)
    # Then on_retry was called once, for attempt 2, with a jittered delay in [0.1, 0.2]
    [(message, error, next_attempt, delay)] = consumer.retries
    assert message.attempt == 1 and isinstance(error, TransientError)
    assert next_attempt == 2
    assert 0.1 <= delay <= 0.2


def test_message_is_requeued_not_lost_when_the_retry_cannot_be_published(rabbit_url, broker, publisher, monkeypatch):
    # Given a broker that refuses the retry (the delay queue is unroutable)
    import notification_common.rabbitmq.retrying_consumer as consumer_module

    monkeypatch.setattr(consumer_module, "delay_queue_for", lambda *args: "no.such.delay.queue")
    publisher.publish(EMAIL_QUEUE, {"n": 1}, message_id="m-1")
    consumer = RecordingConsumer(rabbit_url, behaviour=raise_(TransientError("boom")))
    # When the handler fails transiently
    consumer.run(max_messages=1, idle_timeout=5)
    # Then the original is back in email.queue (nacked with requeue), unchanged
    method, properties, raw = broker.get(EMAIL_QUEUE)
    assert properties.message_id == "m-1"
    assert json.loads(raw) == {"n": 1}
    assert "x-attempt" not in (properties.headers or {})
    assert consumer.retries == []


# -- permanent failures and malformed messages ---------------------------------------------


def test_permanent_error_goes_to_failed_queue_at_once(rabbit_url, broker, publisher):
    # Given a handler that fails permanently
    publisher.publish(EMAIL_QUEUE, {"to": "nobody"}, message_id="m-1", headers={"x-request-id": "req-1"})
    consumer = RecordingConsumer(rabbit_url, behaviour=raise_(PermanentError("550 no such user")))
    # When the consumer runs
    assert consumer.run(max_messages=1, idle_timeout=5) == 1
    # Then the handler ran once and the message is in failed.queue with the reason
    assert len(consumer.seen) == 1
    [(headers, raw)] = failed_messages(broker)
    assert json.loads(raw) == {"to": "nobody"}
    assert headers["x-failure-kind"] == "permanent"
    assert headers["x-failure-reason"] == "550 no such user"
    assert headers["x-attempt"] == 1
    assert headers["x-request-id"] == "req-1"  # original headers kept
    assert json.loads(headers["x-history"])[0]["kind"] == "permanent"
    assert broker.ready(EMAIL_QUEUE) == 0


def test_on_dead_letter_hook_receives_the_message_and_reason(rabbit_url, broker, publisher):
    # Given a handler that fails permanently
    publisher.publish(EMAIL_QUEUE, {"n": 1}, message_id="m-1")
    consumer = RecordingConsumer(rabbit_url, behaviour=raise_(PermanentError("unknown template")))
    # When the consumer runs
    consumer.run(max_messages=1, idle_timeout=5)
    # Then on_dead_letter got the message and the reason
    [(message, reason)] = consumer.dead_letters
    assert message.message_id == "m-1"
    assert reason == "unknown template"


def test_a_failing_hook_does_not_crash_the_loop_or_re_handle_the_message(rabbit_url, broker, publisher):
    # Given an on_dead_letter hook that raises
    class BrokenHook(RecordingConsumer):
        def on_dead_letter(self, message, reason):
            raise RuntimeError("hook bug")

    publisher.publish(EMAIL_QUEUE, {"n": 1})
    publisher.publish(EMAIL_QUEUE, {"n": 2})
    consumer = BrokenHook(rabbit_url, behaviour=raise_(PermanentError("bad")))
    # When both messages are processed
    assert consumer.run(max_messages=2, idle_timeout=5) == 2
    # Then each was handled once and dead-lettered once
    assert [m.body["n"] for _, m in consumer.seen] == [1, 2]
    assert len(failed_messages(broker)) == 2


@pytest.mark.parametrize(
    "raw", [b"not json at all", b"[1, 2, 3]", b"\xff\xfe"], ids=["not-json", "json-list", "not-utf8"]
)
def test_malformed_body_is_dead_lettered_at_once_without_calling_the_handler(rabbit_url, broker, publisher, raw):
    # Given a message whose body is not a JSON object
    publisher.publish(EMAIL_QUEUE, raw, message_id="bad-1")
    consumer = RecordingConsumer(rabbit_url)
    # When the consumer runs
    assert consumer.run(max_messages=1, idle_timeout=5) == 1
    # Then the handler was never called and the raw body sits in failed.queue as malformed
    assert consumer.seen == []
    [(headers, failed_raw)] = failed_messages(broker)
    assert failed_raw == raw
    assert headers["x-failure-kind"] == "malformed"
    assert headers["x-attempt"] == 1
    assert consumer.dead_letters[0][0].message_id == "bad-1"
    assert broker.ready(EMAIL_QUEUE) == 0


def test_malformed_message_raised_by_the_handler_is_not_retried(rabbit_url, broker, publisher):
    publisher.publish(EMAIL_QUEUE, {"schema": 99})
    consumer = RecordingConsumer(rabbit_url, behaviour=raise_(MalformedMessage("unsupported schema 99")))
    consumer.run(max_messages=1, idle_timeout=5)
    [(headers, _)] = failed_messages(broker)
    assert headers["x-failure-kind"] == "malformed"
    assert headers["x-failure-reason"] == "unsupported schema 99"


# -- batches -------------------------------------------------------------------------------


def test_batch_is_handled_in_one_call_with_per_message_outcomes(rabbit_url, broker, publisher):
    # Given five messages and a batch consumer failing the odd ones permanently
    class BatchConsumer(BaseConsumer):
        queue = EMAIL_QUEUE
        batch_wait_seconds = 0.5

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.calls: list[list[int]] = []

        def handle_batch(self, messages):
            self.calls.append([m.body["n"] for m in messages])
            return [PermanentError(f"odd {m.body['n']}") if m.body["n"] % 2 else None for m in messages]

    for n in range(5):
        publisher.publish(EMAIL_QUEUE, {"n": n})
    consumer = BatchConsumer(rabbit_url, batch_size=5)
    # When the consumer runs
    assert consumer.run(max_messages=5, idle_timeout=5) == 5
    # Then one handle_batch call got all five; successes acked, failures dead-lettered
    assert consumer.calls == [[0, 1, 2, 3, 4]]
    assert sorted(json.loads(raw)["n"] for _, raw in failed_messages(broker)) == [1, 3]
    assert broker.ready(EMAIL_QUEUE) == 0


def test_batch_that_raises_is_logged_once_and_each_message_retried(rabbit_url, broker, publisher, caplog):
    # Given a batch consumer whose first batch raises (as when its database is restarting)
    class FlakyBatchConsumer(BaseConsumer):
        queue = EMAIL_QUEUE
        batch_wait_seconds = 0.5

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.attempts: list[list[int]] = []

        def handle_batch(self, messages):
            self.attempts.append([m.attempt for m in messages])
            if len(self.attempts) == 1:
                raise ConnectionError("database restarting")
            return [None] * len(messages)

    for n in range(4):
        publisher.publish(EMAIL_QUEUE, {"n": n})
    consumer = FlakyBatchConsumer(rabbit_url, batch_size=4, retry_base_seconds=0.05)
    # When the consumer runs over the batch and the retries
    with caplog.at_level(logging.INFO, logger="notification_common.rabbitmq"):
        consumer.run(max_messages=8, idle_timeout=5)
    # Then the failure was logged once with its traceback, and every message came back as
    # attempt 2 and was acked (nothing dead-lettered)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [f"{consumer.name}: handle_batch raised"]
    assert errors[0].exc_info is not None
    assert consumer.attempts[0] == [1, 1, 1, 1]
    assert sorted(a for batch in consumer.attempts[1:] for a in batch) == [2, 2, 2, 2]
    assert broker.ready(EMAIL_QUEUE) == 0 and broker.ready(FAILED_QUEUE) == 0


# -- stopping ------------------------------------------------------------------------------


def test_stop_is_honoured_within_a_few_polls_when_the_queue_is_idle(rabbit_url, broker, tmp_path):
    # Given a consumer on an empty queue with a heartbeat file; its idle timeout (60 s) is far
    # beyond the bound below, so only stop() can end it in time
    heartbeat = tmp_path / "alive"
    consumer = RecordingConsumer(rabbit_url, heartbeat_path=str(heartbeat))
    thread = threading.Thread(target=consumer.run, kwargs={"idle_timeout": 60})
    thread.start()
    try:
        # ... running: subscribed to the queue, and its loop has touched the heartbeat file
        wait_until(
            lambda: heartbeat.exists() and subscribers(broker, EMAIL_QUEUE) == 1,
            timeout=30,
            what="the consumer subscribed with its heartbeat file touched",
        )
        # When stop() is called
        stopped_at = time.monotonic()
        consumer.stop()
        thread.join(timeout=30)
        returned_after = time.monotonic() - stopped_at
    finally:
        consumer.stop()
        thread.join()
    # Then run() returned within a few of its 0.5 s polls (room for a loaded machine), not at the
    # idle timeout, and it left the queue
    assert not thread.is_alive()
    assert returned_after < 5
    assert subscribers(broker, EMAIL_QUEUE) == 0


def test_sigterm_finishes_the_message_in_hand_and_leaves_the_rest_queued(rabbit_url, broker, publisher, tmp_path):
    # Given three messages and a consumer process whose handler takes ~1 s
    for n in (1, 2, 3):
        publisher.publish(EMAIL_QUEUE, {"n": n}, message_id=f"m-{n}")
    log = tmp_path / "handled.log"
    script = Path(__file__).with_name("sigterm_consumer.py")
    process = subprocess.Popen([sys.executable, str(script), rabbit_url, str(log)], env=os.environ.copy())
    try:

        def started_handling() -> bool:
            assert process.poll() is None, "consumer process died"
            return log.exists() and "start" in log.read_text()

        wait_until(started_handling, what="the consumer handling its first message")
        # When SIGTERM arrives while the first message is being handled
        process.send_signal(signal.SIGTERM)
        # Then the process exits 0 within a few seconds
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # ... the message in hand was handled once (and acked) ...
    assert log.read_text().splitlines() == ["start m-1", "done m-1"]
    # ... and the other two are ready in email.queue, nothing lost
    remaining = broker.drain(EMAIL_QUEUE)
    assert [props.message_id for _, props, _ in remaining] == ["m-2", "m-3"]
    assert broker.ready(FAILED_QUEUE) == 0


class StoringRecorder(StoringConsumer):
    queue = FAILED_QUEUE
    failure_pause_seconds = 0.05

    def __init__(self, url, fail_times=0):
        super().__init__(url)
        self.fail_times = fail_times
        self.stored: list[bytes] = []

    def handle(self, message: ConsumedMessage) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionRefusedError("store is down")
        self.stored.append(message.raw)

    def store_unavailable(self, error: BaseException) -> bool:
        return isinstance(error, ConnectionRefusedError)


def test_storing_consumer_acks_after_storing_even_a_non_json_body(rabbit_url, broker, publisher):
    publisher.publish(FAILED_QUEUE, b"{not json")

    consumer = StoringRecorder(rabbit_url)
    assert consumer.run(max_messages=1, idle_timeout=3) == 1

    assert consumer.stored == [b"{not json"]
    assert broker.ready(FAILED_QUEUE) == 0


def test_storing_consumer_requeues_while_the_store_fails_and_loses_nothing(rabbit_url, broker, publisher):
    publisher.publish(FAILED_QUEUE, {"n": 1})

    consumer = StoringRecorder(rabbit_url, fail_times=2)
    assert consumer.run(max_messages=1, idle_timeout=5) == 1

    assert [json.loads(raw) for raw in consumer.stored] == [{"n": 1}]
    assert broker.ready(FAILED_QUEUE) == 0
