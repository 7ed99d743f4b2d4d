"""``BaseConsumer``: a work-queue consumer with retries through the delay queues, a time
budget, pause on open circuits and dead letters (the policy: consumer.py's docstring and
docs/operations.md, "Retries").

Over 350 lines but one topic: how a handled message is settled (ack, retry, defer, dead
letter). The policy and the republishing that carries it out share the headers they write,
so they stay together; the consume loop is in consumer.py, the vocabulary in consumed.py.
"""

from __future__ import annotations

import json
import random
import time

import pika
import pika.exceptions

from notification_common.rabbitmq.consumed import (
    FIRST_ATTEMPT_HEADER,
    NOT_BEFORE_HEADER,
    ConsumedMessage,
    MalformedMessage,
    PermanentError,
    TransientError,
    _Delivery,
    _iso,
    _reason,
    caused_by_open_circuit,
)
from notification_common.rabbitmq.consumer import (
    _BROKER_ERRORS,
    HANDLE_SECONDS,
    MESSAGES,
    QueueConsumer,
    logger,
)
from notification_common.rabbitmq.thread_database import refresh_thread_database_connections
from notification_common.rabbitmq.topology import (
    EXCHANGE,
    FAILED_QUEUE,
    WORK_QUEUES,
    delay_queue_for,
    delay_tier_limit,
)

__all__ = [
    "BaseConsumer",
]

# A message back from the top delay tier up to this early is handled rather than sent round again.
_NOT_BEFORE_TOLERANCE_SECONDS = 0.05


class BaseConsumer(QueueConsumer):
    """A consumer of a work queue, with retries through the delay queues and dead letters."""

    # Transient failures are retried until this long after the first attempt (a real
    # provider outage lasts minutes to hours); then the message is dead-lettered.
    retry_budget_seconds: float = 24 * 3600.0
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 600.0
    # An optional cap on attempts besides the budget (None: the budget alone decides).
    max_attempts: int | None = None

    def __init__(
        self,
        url: str | None = None,
        *,
        max_attempts: int | None = None,
        retry_budget_seconds: float | None = None,
        retry_base_seconds: float | None = None,
        retry_max_seconds: float | None = None,
        prefetch_count: int | None = None,
        batch_size: int | None = None,
        name: str | None = None,
        heartbeat_path: str | None = None,
        amqp_heartbeat_seconds: int | None = None,
        clock=time.time,
    ):
        if self.queue not in WORK_QUEUES:
            raise ValueError(f"{type(self).__name__}.queue must be one of {WORK_QUEUES}, got {self.queue!r}")
        super().__init__(
            url,
            prefetch_count=prefetch_count,
            batch_size=batch_size,
            name=name,
            heartbeat_path=heartbeat_path,
            amqp_heartbeat_seconds=amqp_heartbeat_seconds,
            clock=clock,
        )
        for attr, value in (
            ("max_attempts", max_attempts),
            ("retry_budget_seconds", retry_budget_seconds),
            ("retry_base_seconds", retry_base_seconds),
            ("retry_max_seconds", retry_max_seconds),
        ):
            if value is not None:
                setattr(self, attr, value)
        if self.max_attempts is not None and self.max_attempts <= 0:
            self.max_attempts = None  # 0 in settings: no attempt cap

    # -- to implement / override ------------------------------------------------
    def handle(self, message: ConsumedMessage) -> None:
        raise NotImplementedError

    def handle_batch(self, messages: list[ConsumedMessage]) -> list[Exception | None]:
        results: list[Exception | None] = []
        for message in messages:
            try:
                self.handle(message)
            except Exception as exc:  # noqa: BLE001 - settled per message by the base class
                results.append(exc)
            else:
                results.append(None)
        return results

    def on_retry(self, message: ConsumedMessage, error: Exception, next_attempt: int, delay_seconds: float) -> None:
        """Called after a message was sent to a delay queue (e.g. to report "pending")."""

    def on_dead_letter(self, message: ConsumedMessage, reason: str) -> None:
        """Called after a message was moved to failed.queue (e.g. to report "failed")."""

    # -- the retry policy -----------------------------------------------------------
    def budget_remaining(self, message: ConsumedMessage, now: float | None = None) -> float:
        """Seconds of the retry budget left for ``message`` (negative once spent)."""
        now = self.clock() if now is None else now
        started = message.first_attempt_at if message.first_attempt_at is not None else now
        return started + self.retry_budget_seconds - now

    def is_final_attempt(self, message: ConsumedMessage) -> bool:
        """True when a transient failure of this attempt dead-letters the message (attempt cap
        reached, or the budget spent before the attempt began): the handler may record it as
        final. Decided once per delivery, so the handler and the settlement always agree; an
        attempt that outlives the end of the budget is retried once more, at once, as final."""
        if message.final_attempt is None:
            capped = self.max_attempts is not None and message.attempt >= self.max_attempts
            message.final_attempt = capped or self.budget_remaining(message) <= 0
        return message.final_attempt

    def retry_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before attempt ``attempt + 1``.

        ``min(base * 2**(attempt-1), max)`` times a random factor in [0.5, 1.0] (the jitter
        stays once the cap is reached, so a burst that failed together does not come back
        together); a larger ``retry_after`` (Retry-After, an open circuit) replaces it, capped
        at ``retry_max_seconds`` too.
        """
        exponent = min(max(0, attempt - 1), 60)
        backoff = min(self.retry_base_seconds * 2**exponent, self.retry_max_seconds) * random.uniform(0.5, 1.0)
        if retry_after is not None and retry_after > backoff:
            backoff = retry_after
        return max(0.0, min(backoff, self.retry_max_seconds))

    # -- processing ---------------------------------------------------------------
    def _process(self, batch: list[_Delivery]) -> int:
        pending: list[tuple[_Delivery, ConsumedMessage]] = []
        deferred = 0  # put back without an outcome: not counted as settled
        now = self.clock()
        for delivery in batch:
            MESSAGES.labels(self.queue, "consumed").inc()
            message, malformed = self._parse(delivery)
            if malformed is not None:
                self._settle(delivery, message, malformed)
            elif message.not_before is not None and message.not_before - now > _NOT_BEFORE_TOLERANCE_SECONDS:
                # Back early from a delay longer than the tiers hold: round again, unhandled.
                self._delay(delivery, message, dict(message.headers), message.not_before - now)
                MESSAGES.labels(self.queue, "deferred").inc()
                deferred += 1
            else:
                pending.append((delivery, message))
        if not pending:
            return len(batch) - deferred
        messages = [message for _, message in pending]
        for message in messages:
            self.is_final_attempt(message)  # fixed now, before the handler looks
        results = self._run_in_worker(self._handle_batch_guarded, messages)
        # The settle hooks (on_retry, on_dead_letter) may use the database from this thread.
        refresh_thread_database_connections()
        # A failure caused by an open circuit is put back without spending an attempt, and
        # never dead-lettered (not even with the budget spent): the call was never made.
        circuit_open = [caused_by_open_circuit(result) for result in results]
        if any(circuit_open):
            blocked = self._check_blocked()
            if blocked is not None:
                # Stop taking messages before putting these back, so they are not handed
                # straight back to this consumer.
                self._pause(blocked)
        # Leading successes (in delivery order) are acked with one multiple=True ack; every
        # earlier tag of this channel is settled already (batches are settled in order and
        # the buffer only holds later tags).
        leading = 0
        while leading < len(pending) and results[leading] is None:
            leading += 1
        if leading:
            self._channel.basic_ack(pending[leading - 1][0].method.delivery_tag, multiple=True)
            MESSAGES.labels(self.queue, "succeeded").inc(leading)
        for index in range(leading, len(pending)):
            delivery, message = pending[index]
            if circuit_open[index]:
                self._defer_circuit_open(delivery, message, results[index])
                deferred += 1
            else:
                self._settle(delivery, message, results[index])
        return len(batch) - deferred

    def _handle_batch_guarded(self, messages: list[ConsumedMessage]) -> list[Exception | None]:
        """Runs in the worker thread: the handler's results, one per message, never raising."""
        started = time.perf_counter()
        try:
            results = list(self.handle_batch(messages))
            if len(results) != len(messages):
                raise RuntimeError(f"handle_batch returned {len(results)} results for {len(messages)} messages")
        except Exception as exc:  # the whole batch failed: each message is settled as transient
            # Logged once here with its traceback (a database restart fails every batch in
            # hand); each message is then retried as an ordinary transient failure.
            logger.exception("%s: handle_batch raised", self.name)
            failure = TransientError(f"handle_batch raised {type(exc).__name__}: {str(exc)[:300]}")
            failure.__cause__ = exc
            results = [failure] * len(messages)
        finally:
            HANDLE_SECONDS.labels(self.queue).observe(time.perf_counter() - started)
        return results

    def _defer_circuit_open(self, delivery: _Delivery, message: ConsumedMessage, error: Exception) -> None:
        """The call was never made: no attempt spent, never a dead letter."""
        MESSAGES.labels(self.queue, "deferred").inc()
        if self._blocked is not None:
            # Paused (not consuming): back to the queue, taken again on resume.
            self._channel.basic_nack(delivery.method.delivery_tag, requeue=True)
            return
        # Not paused (the circuit half open with a trial in flight, or a breaker the hook
        # does not know): wait in a delay queue rather than come straight back.
        retry_after = getattr(error, "retry_after", None)
        delay = retry_after if retry_after and retry_after > 0 else self.retry_base_seconds
        self._delay(delivery, message, dict(message.headers), min(delay, self.retry_max_seconds))

    def _settle(self, delivery: _Delivery, message: ConsumedMessage, result: Exception | None) -> None:
        extra = self._log_extra(message)
        tag = delivery.method.delivery_tag
        if result is None:
            self._channel.basic_ack(tag)
            MESSAGES.labels(self.queue, "succeeded").inc()
            logger.debug("%s: handled", self.name, extra=extra)
            return
        if isinstance(result, PermanentError):
            kind = "malformed" if isinstance(result, MalformedMessage) else "permanent"
            self._dead_letter(delivery, message, _reason(result), kind, kind)
            return
        if not isinstance(result, TransientError):
            logger.error(
                "%s: unexpected error, treated as transient",
                self.name,
                extra=extra,
                exc_info=(type(result), result, result.__traceback__),
            )
        reason = _reason(result)
        if self.max_attempts is not None and message.attempt >= self.max_attempts:
            self._dead_letter(
                delivery, message, f"max_attempts_exceeded: {reason}", "exhausted", "transient", history_error=reason
            )
            return
        now = self.clock()
        remaining = self.budget_remaining(message, now)
        if self.is_final_attempt(message):
            spent = now - message.first_attempt_at if message.first_attempt_at is not None else 0.0
            self._dead_letter(
                delivery,
                message,
                f"retry_budget_exhausted: {reason} (retried for {spent:.0f}s over {message.attempt} attempts)",
                "exhausted",
                "transient",
                history_error=reason,
            )
            return
        # Never beyond the budget: the last try happens when it runs out.
        delay = min(self.retry_delay(message.attempt, getattr(result, "retry_after", None)), max(0.0, remaining))
        headers = dict(message.headers)
        headers["x-attempt"] = message.attempt + 1
        headers["x-history"] = self._history_with(message, reason, "transient")
        if not self._delay(delivery, message, headers, delay):
            return
        MESSAGES.labels(self.queue, "retried").inc()
        logger.info(
            "%s: transient failure, retry %d in %.2fs: %s",
            self.name,
            message.attempt + 1,
            delay,
            reason,
            extra=extra,
        )
        self._call_hook(self.on_retry, message, result, message.attempt + 1, delay)

    def _delay(self, delivery: _Delivery, message: ConsumedMessage, headers: dict, delay: float) -> bool:
        """Republish through the delay queue for ``delay`` seconds, then ack the original.

        Carries the budget's start; a delay longer than one pass through the tiers goes
        through the top tier with its due time in ``x-retry-not-before``.
        """
        now = self.clock()
        if message.first_attempt_at is not None:
            headers[FIRST_ATTEMPT_HEADER] = _iso(message.first_attempt_at)
        headers.pop(NOT_BEFORE_HEADER, None)
        delay = max(0.0, delay)
        limit = delay_tier_limit(self.retry_base_seconds)
        if delay > limit:
            headers[NOT_BEFORE_HEADER] = _iso(now + delay)
            delay = limit
        target = delay_queue_for(self.queue, delay, self.retry_base_seconds)
        props = self._copy_properties(
            delivery.properties,
            headers,
            content_type=delivery.properties.content_type or "application/json",
            expiration=str(max(0, int(delay * 1000))),
        )
        return self._republish(delivery, message, "", target, props)

    def _dead_letter(
        self, delivery, message, reason: str, failure_kind: str, history_kind: str, history_error: str | None = None
    ) -> None:
        now = _iso(self.clock())
        headers = dict(message.headers)
        headers.update(
            {
                "x-failure-reason": reason,
                "x-failure-kind": failure_kind,
                "x-attempt": message.attempt,
                "x-history": self._history_with(message, history_error or reason, history_kind, now),
                "x-original-queue": self.queue,
                "x-failed-at": now,
            }
        )
        if message.first_attempt_at is not None:
            headers[FIRST_ATTEMPT_HEADER] = _iso(message.first_attempt_at)
        headers.pop(NOT_BEFORE_HEADER, None)
        props = self._copy_properties(
            delivery.properties, headers, content_type=delivery.properties.content_type or "application/json"
        )
        if not self._republish(delivery, message, EXCHANGE, FAILED_QUEUE, props):
            return
        MESSAGES.labels(self.queue, "dead_lettered").inc()
        if failure_kind == "malformed":
            MESSAGES.labels(self.queue, "malformed").inc()
        logger.warning("%s: dead-lettered (%s): %s", self.name, failure_kind, reason, extra=self._log_extra(message))
        self._call_hook(self.on_dead_letter, message, reason)

    def _history_with(self, message: ConsumedMessage, error: str, kind: str, at: str | None = None) -> str:
        entry = {"attempt": message.attempt, "error": error, "at": at or _iso(self.clock()), "kind": kind}
        return json.dumps([*message.history, entry], separators=(",", ":"), default=str)

    def _republish(
        self,
        delivery: _Delivery,
        message: ConsumedMessage,
        exchange: str,
        routing_key: str,
        props: pika.BasicProperties,
    ) -> bool:
        """Confirmed publish, then ack the original.  On failure nack with requeue; False."""
        try:
            self._publish_copy(delivery, exchange, routing_key, props)
        except _BROKER_ERRORS as exc:
            logger.error(
                "%s: republish to %r failed (%r); message requeued",
                self.name,
                routing_key,
                exc,
                extra=self._log_extra(message),
            )
            # If the connection itself is gone this raises too and run() reconnects;
            # the broker requeues every unacked message either way.
            self._channel.basic_nack(delivery.method.delivery_tag, requeue=True)
            self._sleep(1.0)  # do not spin on a message we cannot move right now
            return False
        self._channel.basic_ack(delivery.method.delivery_tag)
        return True
