"""The consumer base every worker builds on.

A subclass sets ``queue`` and implements :meth:`BaseConsumer.handle` (or
:meth:`BaseConsumer.handle_batch`); the base class does the rest:

* manual acks with a bounded prefetch, acked only after the handler returned (one
  ``multiple=True`` ack covers a batch's leading successes);
* the handler runs in one long-lived worker thread while the consume thread keeps servicing
  the AMQP connection (heartbeats), so a batch slower than the heartbeat never costs the
  connection and a redelivery; pika is only ever touched by the consume thread;
* ``TransientError`` (and any unexpected exception) -> retried with capped exponential
  backoff and jitter through the delay queues (per-message TTL, dead-lettered back to the
  work queue) for a *time budget* measured from the first attempt; once it is spent ->
  ``failed.queue`` as ``exhausted``.  An attempt cap exists but is off by default;
* ``PermanentError`` / ``MalformedMessage`` -> ``failed.queue`` at once, with the
  reason, kind, attempt and history in the headers;
* while :meth:`QueueConsumer.blocking_dependency` names a dependency (its circuit is open)
  the consumer pauses: it cancels its subscription, puts prefetched messages back unstarted,
  waits for the circuit's retry time and resumes (the next batch carries the half-open
  trial).  A failure caused by an open circuit spends no attempt and is never dead-lettered;
* if the republish fails the original is nacked with requeue, so nothing is lost;
* ``stop()`` (SIGTERM/SIGINT with :meth:`install_signal_handlers`) finishes the batch in
  hand, acks it and returns from :meth:`run` within about a second.

Message headers used: ``x-attempt`` (1-based, missing = 1), ``x-history`` (JSON list of
``{"attempt", "error", "at", "kind"}``), ``x-request-id`` (passed through),
``x-first-attempt-at`` (ISO 8601 UTC, set on the first retry: the budget's start) and
``x-retry-not-before`` (due time of a retry longer than one pass through the delay tiers).
Policy, pause and metrics: docs/operations.md ("Retries", "Paused consumers").
"""

from __future__ import annotations

import collections
import json
import logging
import math
import random
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pika
import pika.exceptions
from prometheus_client import Counter, Histogram

from notification_common.circuit import CircuitBreaker, CircuitOpenError

from .connection import connect
from .topology import (
    EXCHANGE,
    FAILED_PARKED_QUEUE,
    FAILED_QUEUE,
    WORK_QUEUES,
    declare_topology,
    delay_queue_for,
    delay_tier_limit,
)

__all__ = [
    "BaseConsumer",
    "BlockingDependency",
    "QueueConsumer",
    "StoringConsumer",
    "ConsumedMessage",
    "ConsumerState",
    "MalformedMessage",
    "PermanentError",
    "TransientError",
    "caused_by_open_circuit",
    "open_circuit_of",
]

logger = logging.getLogger("notification_common.rabbitmq")

MESSAGES = Counter(
    "notification_consumer_messages",
    "Messages seen by consumers, by outcome (consumed = every delivery; "
    "succeeded + retried + dead_lettered = settled; malformed is a subset of dead_lettered; "
    "deferred = put back without spending an attempt: open circuit, or a retry not yet due).",
    ["queue", "outcome"],
)
HANDLE_SECONDS = Histogram(
    "notification_consumer_handle_seconds",
    "Time spent in one handle_batch call (one message unless batch_size > 1).",
    ["queue"],
)

POLL_SECONDS = 0.5  # longest wait for I/O, so stop() is honoured within about this long
PUMP_SECONDS = 0.2  # longest wait for I/O while a batch is in the worker thread
HEARTBEAT_FILE_SECONDS = 2.0
# While paused, how often the queue's depth is read (passive declare: touches no message).
PAUSED_DEPTH_SECONDS = 2.0
_BROKER_ERRORS = (pika.exceptions.AMQPError, OSError)
FIRST_ATTEMPT_HEADER = "x-first-attempt-at"
NOT_BEFORE_HEADER = "x-retry-not-before"
# A message back from the top delay tier up to this early is handled rather than sent round again.
_NOT_BEFORE_TOLERANCE_SECONDS = 0.05


class TransientError(Exception):
    """Worth retrying later (SMTP 4xx, connection error, FCM UNAVAILABLE, a 5xx...)."""

    def __init__(self, reason: str, *, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentError(Exception):
    """Retrying cannot help (bad address, unknown template, FCM UNREGISTERED...)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MalformedMessage(PermanentError):
    """The message itself is unusable (not a JSON object, missing fields...)."""


@dataclass(frozen=True)
class BlockingDependency:
    """A dependency the consumer must not call now: its name and when to look again."""

    name: str
    retry_in: float


@dataclass(frozen=True)
class ConsumerState:
    """What the consumer's heartbeat carries besides "alive" (health and /metrics show it)."""

    queue: str
    paused: bool = False
    dependency: str | None = None
    retry_in_seconds: float | None = None
    oldest_message_age_seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "queue": self.queue,
            "paused": self.paused,
            "dependency": self.dependency,
            "retry_in_seconds": None if self.retry_in_seconds is None else round(self.retry_in_seconds, 3),
            "oldest_message_age_seconds": round(self.oldest_message_age_seconds, 3),
        }


def open_circuit_of(*breakers: CircuitBreaker | None) -> BlockingDependency | None:
    """The open circuit among ``breakers`` that stays open longest, or None.

    Half open is not blocking: the next call is the trial that may close it again.
    """
    blocked = None
    for breaker in breakers:
        if breaker is None or breaker.state != CircuitBreaker.OPEN:
            continue
        retry_in = breaker.retry_in()
        if blocked is None or retry_in > blocked.retry_in:
            blocked = BlockingDependency(breaker.name, retry_in)
    return blocked


def caused_by_open_circuit(error: BaseException | None) -> bool:
    """True when ``error`` is, or was raised because of, a CircuitOpenError (the call was
    never made, so it says nothing about the message)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, CircuitOpenError) or getattr(error, "circuit_open", False):
            return True
        seen.add(id(error))
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return False


@dataclass
class ConsumedMessage:
    body: dict
    raw: bytes
    headers: dict
    attempt: int
    message_id: str | None
    request_id: str | None
    routing_key: str
    history: list[dict] = field(default_factory=list)
    correlation_id: str | None = None
    redelivered: bool = False
    priority: int | None = None
    # Unix time of the first attempt (``x-first-attempt-at``; now when missing): the budget's start.
    first_attempt_at: float | None = None
    # Unix time before which a retry is not due (``x-retry-not-before``), or None.
    not_before: float | None = None
    # Whether a transient failure of this attempt dead-letters it (attempt cap reached or
    # budget spent), decided once before the handler runs so the handler and the base agree.
    final_attempt: bool | None = None


@dataclass
class _Delivery:
    method: pika.spec.Basic.Deliver
    properties: pika.BasicProperties
    raw: bytes
    received_at: float = 0.0  # unix time the consumer received it


def _iso(unix_seconds: float) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat(timespec="milliseconds")


def _unix_or_none(value) -> float | None:
    """A header holding an ISO 8601 time (or unix seconds) as unix seconds; None if unusable."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    return str(reason) if reason is not None else f"{type(error).__name__}: {error}"


def _parse_history(value) -> list[dict]:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _str_or_none(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value) if value is not None else None


def _refresh_thread_database_connections() -> None:
    """Drop the calling thread's broken or expired Django database connections (a worker has
    no request cycle to do it); the next query reconnects. Not inside a transaction."""
    try:
        from django.conf import settings

        if not settings.configured:
            return
        from django.db import close_old_connections, connection

        if not connection.in_atomic_block:
            close_old_connections()
    except Exception:  # noqa: BLE001 - the next query reports a real problem
        logger.debug("could not refresh the database connections", exc_info=True)


def _close_thread_database_connections() -> None:
    """Close the calling thread's Django database connections (each thread has its own)."""
    try:
        from django.conf import settings

        if not settings.configured:
            return
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001 - closing connections we are done with
        logger.debug("could not close the worker thread's database connections", exc_info=True)


class QueueConsumer:
    """The consume loop shared by every consumer: connection, bounded prefetch, batches,
    clean stop, reconnection, heartbeat, pause while a dependency is blocked.
    Subclasses decide how a batch is settled."""

    queue: str = ""
    prefetch_count: int = 50
    batch_size: int = 1
    batch_wait_seconds: float = 0.02
    heartbeat_path: str | None = None
    # The AMQP heartbeat of the consumer's connection (RabbitMQ closes a connection that
    # misses two); the worker thread lets it be serviced during long batches.
    amqp_heartbeat_seconds: int = 30

    def __init__(
        self,
        url: str | None = None,
        *,
        prefetch_count: int | None = None,
        batch_size: int | None = None,
        name: str | None = None,
        heartbeat_path: str | None = None,
        amqp_heartbeat_seconds: int | None = None,
        clock=time.time,
    ):
        if not self.queue:
            raise ValueError(f"{type(self).__name__}.queue must name a queue")
        self.url = url
        for attr, value in (
            ("prefetch_count", prefetch_count),
            ("batch_size", batch_size),
            ("heartbeat_path", heartbeat_path),
            ("amqp_heartbeat_seconds", amqp_heartbeat_seconds),
        ):
            if value is not None:
                setattr(self, attr, value)
        self.batch_size = max(1, int(self.batch_size))
        self.prefetch_count = max(int(self.prefetch_count), self.batch_size)
        self.name = name or f"{type(self).__name__}:{self.queue}"
        # Wall clock (unix seconds) for the retry budget, due times and message ages; tests inject one.
        self.clock = clock
        self._stop_requested = False
        self._connection: pika.BlockingConnection | None = None
        self._channel = None
        self._publish_channel = None
        self._consumer_tag: str | None = None
        self._buffer: collections.deque[_Delivery] = collections.deque()
        self._heartbeat_touched = 0.0
        self._worker: ThreadPoolExecutor | None = None
        self._state_lock = threading.Lock()
        self._blocked: BlockingDependency | None = None
        self._paused_oldest: float | None = None  # unix time of the oldest message waiting while paused
        self._depth_read_at = 0.0
        self._oldest_age = 0.0
        self._blocking_hook_failed = False

    # -- hooks ----------------------------------------------------------------------
    def on_loop(self) -> None:
        """Called on every turn of the consume loop, busy or idle (at least once a second),
        also while a batch is in the worker thread and while paused: for heartbeats and
        housekeeping. Exceptions are logged and never stop the loop."""

    def blocking_dependency(self) -> BlockingDependency | None:
        """The dependency the handler cannot use now (e.g. its circuit is open), or None.

        While it returns one, the consumer takes no messages (see the module docstring);
        :func:`open_circuit_of` builds the answer from circuit breakers. Called from the
        consume thread between batches, so it must be cheap and must not raise.
        """
        return None

    def _process(self, batch: list[_Delivery]) -> int:
        raise NotImplementedError("subclasses settle a batch and return how many were settled")

    # -- state ------------------------------------------------------------------------
    @property
    def state(self) -> ConsumerState:
        """Paused or not, on what, and the age of the oldest message waiting (for the heartbeat)."""
        with self._state_lock:
            blocked, oldest_age = self._blocked, self._oldest_age
        return ConsumerState(
            queue=self.queue,
            paused=blocked is not None,
            dependency=blocked.name if blocked else None,
            retry_in_seconds=blocked.retry_in if blocked else None,
            oldest_message_age_seconds=oldest_age,
        )

    # -- lifecycle ------------------------------------------------------------------
    def stop(self) -> None:
        """Finish the message/batch in hand, ack it, then return from run().  Signal-safe."""
        self._stop_requested = True

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda _signum, _frame: self.stop())

    def run(self, *, max_messages: int | None = None, idle_timeout: float | None = None) -> int:
        """Consume until stop(), ``max_messages`` settled, or ``idle_timeout`` seconds idle.

        Returns the number of messages settled (acked, or nacked after a failed republish).
        Broker outages are survived by reconnecting with backoff. Time spent paused does
        not count as idle.
        """
        processed = 0
        last_activity = time.monotonic()
        reconnect_delay = 0.5
        try:
            while not self._stop_requested:
                if max_messages is not None and processed >= max_messages:
                    break
                if idle_timeout is not None and time.monotonic() - last_activity >= idle_timeout:
                    break
                try:
                    if self._connection is None:
                        self._open()
                        reconnect_delay = 0.5
                    self._touch_heartbeat()
                    self._call_loop_hook()
                    blocked = self._check_blocked()
                    if blocked is not None:
                        self._pause(blocked)
                        self._wait_paused(blocked)
                        last_activity = time.monotonic()
                        continue
                    self._resume()
                    limit = self.batch_size
                    if max_messages is not None:
                        limit = min(limit, max_messages - processed)
                    batch = self._next_batch(limit)
                    if batch:
                        processed += self._process(batch)
                        last_activity = time.monotonic()
                    elif not self._buffer:
                        self._set_oldest_age(0.0)  # nothing waiting for this consumer
                except _BROKER_ERRORS as exc:
                    logger.warning(
                        "%s: broker connection problem (%r); reconnecting in %.1fs", self.name, exc, reconnect_delay
                    )
                    self._close()
                    self._sleep(reconnect_delay)
                    reconnect_delay = min(reconnect_delay * 2, 15.0)
        finally:
            self._close()
            self._shutdown_worker()
            self._stop_requested = False
        return processed

    def _open(self) -> None:
        self._connection = connect(self.url, heartbeat=self.amqp_heartbeat_seconds, connection_name=self.name)
        channel = self._connection.channel()
        declare_topology(channel)
        channel.basic_qos(prefetch_count=self.prefetch_count)
        self._channel = channel
        self._publish_channel = None
        self._consumer_tag = None
        if self._check_blocked() is None:
            self._start_consuming()

    def _start_consuming(self) -> None:
        self._consumer_tag = self._channel.basic_consume(self.queue, on_message_callback=self._on_message)
        logger.info("%s: consuming from %s (prefetch %d)", self.name, self.queue, self.prefetch_count)

    def _close(self) -> None:
        # Unacked deliveries still in the buffer go back to the queue when the channel closes.
        self._buffer.clear()
        connection, self._connection = self._connection, None
        self._channel = self._publish_channel = None
        self._consumer_tag = None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # closing a connection we are giving up on
                logger.debug("%s: error while closing connection", self.name, exc_info=True)

    def _on_message(self, _channel, method, properties, body) -> None:
        self._buffer.append(_Delivery(method, properties, body, received_at=self.clock()))

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop_requested and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _call_loop_hook(self) -> None:
        try:
            self.on_loop()
        except Exception:  # housekeeping must never stop consumption
            logger.exception("%s: on_loop hook failed", self.name)

    def _touch_heartbeat(self) -> None:
        if self.heartbeat_path and time.monotonic() - self._heartbeat_touched >= HEARTBEAT_FILE_SECONDS:
            Path(self.heartbeat_path).touch()
            self._heartbeat_touched = time.monotonic()

    def _next_batch(self, limit: int) -> list[_Delivery]:
        if not self._buffer:
            self._connection.process_data_events(time_limit=POLL_SECONDS)
            if not self._buffer:
                return []
        if limit > 1 and len(self._buffer) < limit:
            deadline = time.monotonic() + self.batch_wait_seconds
            while len(self._buffer) < limit and not self._stop_requested:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._connection.process_data_events(time_limit=remaining)
        if self._stop_requested:
            return []  # not started yet: returned to the queue when the channel closes
        batch = [self._buffer.popleft() for _ in range(min(limit, len(self._buffer)))]
        self._observe_head(batch)
        return batch

    def _observe_head(self, batch: list[_Delivery]) -> None:
        # The broker delivers in queue order, so the oldest message of a fresh batch was at
        # the head of the queue: its age is how long the oldest waiting message has waited.
        now = self.clock()
        self._set_oldest_age(max(now - self._published_at(delivery) for delivery in batch))

    @staticmethod
    def _published_at(delivery: _Delivery) -> float:
        """When the message started waiting: its AMQP ``timestamp`` (set by publishers that
        do), else its first attempt, else when this consumer received it."""
        props = delivery.properties
        if isinstance(props.timestamp, int) and props.timestamp > 0:
            return float(props.timestamp)
        first = _unix_or_none((props.headers or {}).get(FIRST_ATTEMPT_HEADER))
        return first if first is not None else delivery.received_at

    def _set_oldest_age(self, age: float) -> None:
        with self._state_lock:
            self._oldest_age = max(0.0, age)

    # -- the worker thread ------------------------------------------------------------
    def _run_in_worker(self, function, *args):
        """Run ``function(*args)`` in the worker thread and return its result (or raise its
        exception), servicing the connection meanwhile (heartbeats; new deliveries are only
        buffered). If the connection fails meanwhile, the work is still waited for before
        the error propagates, so two batches never run at once."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.queue}-worker")
        future: Future = self._worker.submit(function, *args)
        broker_error: BaseException | None = None
        while not future.done():
            if broker_error is not None:
                future.exception()  # wait without touching the dead connection
                break
            try:
                self._connection.process_data_events(time_limit=PUMP_SECONDS)
            except _BROKER_ERRORS as exc:
                logger.warning("%s: connection lost while a batch was in hand (%r)", self.name, exc)
                broker_error = exc
                continue
            self._touch_heartbeat()
            self._call_loop_hook()
        if broker_error is not None:
            raise broker_error
        return future.result()

    def _shutdown_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            # The worker's own database connections are closed in the worker thread itself.
            worker.submit(_close_thread_database_connections)
            worker.shutdown(wait=True)

    # -- pause ------------------------------------------------------------------------
    def _check_blocked(self) -> BlockingDependency | None:
        try:
            blocked = self.blocking_dependency()
        except Exception:  # noqa: BLE001 - a broken hook must not stop consumption
            if not self._blocking_hook_failed:  # once, not on every turn of the loop
                logger.exception("%s: blocking_dependency hook failed; consuming as if unblocked", self.name)
            self._blocking_hook_failed = True
            return None
        self._blocking_hook_failed = False
        return blocked

    def _pause(self, blocked: BlockingDependency) -> None:
        """Stop taking messages and put back the prefetched ones (unstarted: no attempt spent)."""
        was_paused = self._blocked is not None
        if self._consumer_tag is not None:
            self._channel.basic_cancel(self._consumer_tag)
            self._consumer_tag = None
        returned = 0
        while self._buffer:
            delivery = self._buffer.popleft()
            published = self._published_at(delivery)
            self._paused_oldest = published if self._paused_oldest is None else min(self._paused_oldest, published)
            self._channel.basic_nack(delivery.method.delivery_tag, requeue=True)
            MESSAGES.labels(self.queue, "deferred").inc()
            returned += 1
        if not was_paused:
            self._read_paused_depth()
        self._set_oldest_age(0.0 if self._paused_oldest is None else self.clock() - self._paused_oldest)
        with self._state_lock:
            self._blocked = blocked
        if not was_paused:
            logger.warning(
                "%s: paused: %s is unavailable (circuit open, retry in %.1fs); %d prefetched message(s) put back",
                self.name,
                blocked.name,
                blocked.retry_in,
                returned,
                extra={"queue": self.queue, "dependency": blocked.name},
            )

    def _read_paused_depth(self) -> None:
        # Passive declare: reads the depth without touching a message (a peek by basic_get +
        # requeue would mark messages redelivered and count deliveries on quorum queues).
        self._depth_read_at = time.monotonic()
        waiting = self._channel.queue_declare(queue=self.queue, passive=True).method.message_count
        if waiting == 0:
            self._paused_oldest = None
        elif self._paused_oldest is None:
            self._paused_oldest = self.clock()  # messages this consumer never saw: at least this old

    def _wait_paused(self, blocked: BlockingDependency) -> None:
        """One turn of waiting while paused: service the connection, keep the age current."""
        self._connection.process_data_events(time_limit=max(0.05, min(POLL_SECONDS, blocked.retry_in)))
        if time.monotonic() - self._depth_read_at >= PAUSED_DEPTH_SECONDS:
            self._read_paused_depth()
        self._set_oldest_age(0.0 if self._paused_oldest is None else self.clock() - self._paused_oldest)

    def _resume(self) -> None:
        with self._state_lock:
            blocked, self._blocked = self._blocked, None
        if self._consumer_tag is None and self._channel is not None:
            self._start_consuming()  # after a pause, or a (re)connection made while blocked
        if blocked is not None:
            self._paused_oldest = None
            logger.info(
                "%s: resumed: %s may be tried again", self.name, blocked.name, extra={"dependency": blocked.name}
            )

    # -- shared helpers -------------------------------------------------------------
    def _parse(self, delivery: _Delivery) -> tuple[ConsumedMessage, MalformedMessage | None]:
        """The message (body {} if unusable) and, for an unusable body, the error."""
        props = delivery.properties
        headers = dict(props.headers or {})
        try:
            attempt = max(1, int(headers.get("x-attempt", 1)))
        except (TypeError, ValueError):
            attempt = 1
        first_attempt_at = _unix_or_none(headers.get(FIRST_ATTEMPT_HEADER))
        message = ConsumedMessage(
            body={},
            raw=delivery.raw,
            headers=headers,
            attempt=attempt,
            message_id=props.message_id,
            request_id=_str_or_none(headers.get("x-request-id")),
            routing_key=delivery.method.routing_key,
            history=_parse_history(headers.get("x-history")),
            correlation_id=props.correlation_id,
            redelivered=bool(delivery.method.redelivered),
            priority=props.priority,
            first_attempt_at=first_attempt_at if first_attempt_at is not None else delivery.received_at or self.clock(),
            not_before=_unix_or_none(headers.get(NOT_BEFORE_HEADER)),
        )
        try:
            body = json.loads(delivery.raw)
        except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
            return message, MalformedMessage(f"body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            return message, MalformedMessage(f"body is a JSON {type(body).__name__}, expected an object")
        message.body = body
        if message.request_id is None and isinstance(body.get("request_id"), str):
            message.request_id = body["request_id"]
        return message, None

    def _log_extra(self, message: ConsumedMessage) -> dict:
        return {
            "message_id": message.message_id,
            "request_id": message.request_id,
            "attempt": message.attempt,
            "queue": self.queue,
        }

    def _call_hook(self, hook, message: ConsumedMessage, *args) -> None:
        try:
            hook(message, *args)
        except Exception:  # hooks never crash the loop or cause a re-handle
            logger.exception("%s: %s hook raised", self.name, hook.__name__, extra=self._log_extra(message))


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
        _refresh_thread_database_connections()
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
            logger.exception("%s: handle_batch raised", self.name)
            results = [exc] * len(messages)
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
        props = self._copy_properties(delivery.properties, headers, expiration=str(max(0, int(delay * 1000))))
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
        props = self._copy_properties(delivery.properties, headers)
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

    @staticmethod
    def _copy_properties(props: pika.BasicProperties, headers: dict, expiration: str | None = None):
        return pika.BasicProperties(
            content_type=props.content_type or "application/json",
            content_encoding=props.content_encoding,
            headers=headers,
            delivery_mode=pika.DeliveryMode.Persistent,
            priority=props.priority,
            correlation_id=props.correlation_id,
            message_id=props.message_id,
            timestamp=props.timestamp,
            type=props.type,
            app_id=props.app_id,
            expiration=expiration,
        )

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
            if self._publish_channel is None or not self._publish_channel.is_open:
                self._publish_channel = self._connection.channel()
                self._publish_channel.confirm_delivery()
            self._publish_channel.basic_publish(exchange, routing_key, delivery.raw, props, mandatory=True)
        except _BROKER_ERRORS as exc:
            self._publish_channel = None
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


class StoringConsumer(QueueConsumer):
    """A consumer that stores each message and never retries or dead-letters it
    (``failed.queue`` into the admin service's database).

    ``handle(message)`` must commit before it returns; then the message is acked. When it
    raises, the consumer tells an outage from a message that cannot be stored as it is:

    * :meth:`store_unavailable` says the store is down (e.g. the database is unreachable):
      the message is nacked back to the queue and the consumer pauses. Nothing is lost and
      nothing spins: that is an outage, not a loop.
    * otherwise ``handle`` is tried once more (the store may have come back in between) and
      then the message is at fault (a NUL byte, broken types, headers the store refuses...):
      :meth:`handle_unstorable` stores a reduced form with the reason, up to
      ``reduced_store_attempts`` times (a subclass reduces further with each attempt), and
      the message is acked.
    * only if even that fails is it moved, as it is, to ``failed.parked.queue`` (reason in
      ``x-store-error``) and acked; if the broker will not take it either, it is nacked back
      and the consumer pauses.

    Bodies that are not JSON are handed over too (``message.body`` is then ``{}``;
    ``message.raw`` has the bytes). docs/operations.md, "Dead letters that cannot be stored".
    """

    failure_pause_seconds: float = 2.0
    reduced_store_attempts: int = 3
    park_queue: str = FAILED_PARKED_QUEUE

    def handle(self, message: ConsumedMessage) -> None:
        raise NotImplementedError

    def handle_unstorable(self, message: ConsumedMessage, reason: str, attempt: int) -> None:
        """Store a reduced form of a message ``handle`` could not store (``reason`` says why);
        ``attempt`` counts from 1, each a little more reduced. Default: none (it is parked)."""
        raise NotImplementedError(f"{type(self).__name__} stores no reduced form")

    def store_unavailable(self, error: BaseException) -> bool:
        """True when ``error`` means the store itself is down (an outage), False when the
        message is at fault. Called after each failure; it may probe the store."""
        return False

    def _process(self, batch: list[_Delivery]) -> int:
        settled = 0
        for delivery in batch:
            MESSAGES.labels(self.queue, "consumed").inc()
            message, _malformed = self._parse(delivery)
            outcome = self._store(message)
            tag = delivery.method.delivery_tag
            if outcome == "unparkable" or (outcome == "unreduced" and not self._park(delivery, message)):
                outcome = "store_unavailable"
            if outcome == "store_unavailable":
                self._channel.basic_nack(tag, requeue=True)
                MESSAGES.labels(self.queue, "store_unavailable").inc()
                self._sleep(self.failure_pause_seconds)
                continue
            self._channel.basic_ack(tag)
            MESSAGES.labels(self.queue, {"unreduced": "parked"}.get(outcome, outcome)).inc()
            settled += 1
        return settled

    def _store(self, message: ConsumedMessage) -> str:
        """``succeeded``, ``stored_reduced``, ``store_unavailable`` or ``unreduced`` (to park)."""
        extra = self._log_extra(message)
        error: BaseException | None = None
        for _ in range(2):
            try:
                self.handle(message)
                return "succeeded"
            except Exception as exc:  # noqa: BLE001 - classified below: outage or the message's fault
                error = exc
            if self._store_down(error, extra):
                return "store_unavailable"
        reason = _reason(error)
        logger.warning(
            "%s: message cannot be stored as it is (%s); storing a reduced form", self.name, reason, extra=extra
        )
        for attempt in range(1, max(1, self.reduced_store_attempts) + 1):
            try:
                self.handle_unstorable(message, reason, attempt)
                return "stored_reduced"
            except NotImplementedError:
                break
            except Exception as exc:  # noqa: BLE001 - the same classification as above
                if self._store_down(exc, extra):
                    return "store_unavailable"
                logger.warning(
                    "%s: reduced form %d not stored either: %s", self.name, attempt, _reason(exc), extra=extra
                )
                reason = f"{reason}; reduced form {attempt}: {_reason(exc)}"
        message.headers["x-store-error"] = reason[:1000]
        return "unreduced"

    def _store_down(self, error: BaseException, extra: dict) -> bool:
        try:
            down = self.store_unavailable(error)
        except Exception:  # noqa: BLE001 - a failing probe means the store is not answering
            logger.debug("%s: store probe raised", self.name, exc_info=True)
            down = True
        if down:
            logger.warning("%s: store unavailable (%s); message requeued", self.name, _reason(error), extra=extra)
        return down

    def _park(self, delivery: _Delivery, message: ConsumedMessage) -> bool:
        """Move the message unchanged (plus ``x-store-error``) to the parking queue; confirmed."""
        props = delivery.properties
        headers = dict(props.headers or {})
        headers["x-store-error"] = message.headers.get("x-store-error", "")
        headers["x-original-queue"] = headers.get("x-original-queue", self.queue)
        parked = pika.BasicProperties(
            content_type=props.content_type,
            content_encoding=props.content_encoding,
            headers=headers,
            delivery_mode=pika.DeliveryMode.Persistent,
            priority=props.priority,
            correlation_id=props.correlation_id,
            message_id=props.message_id,
            timestamp=props.timestamp,
            type=props.type,
            app_id=props.app_id,
        )
        try:
            if self._publish_channel is None or not self._publish_channel.is_open:
                self._publish_channel = self._connection.channel()
                self._publish_channel.confirm_delivery()
            self._publish_channel.basic_publish(EXCHANGE, self.park_queue, delivery.raw, parked, mandatory=True)
        except _BROKER_ERRORS as exc:
            self._publish_channel = None
            logger.error("%s: could not park a message (%r); requeued", self.name, exc, extra=self._log_extra(message))
            return False
        logger.error(
            "%s: message parked on %s: %s",
            self.name,
            self.park_queue,
            headers["x-store-error"][:300],
            extra=self._log_extra(message),
        )
        return True
