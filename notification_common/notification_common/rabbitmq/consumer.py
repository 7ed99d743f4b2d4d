"""The consumer base every worker builds on.

A subclass sets ``queue`` and implements :meth:`BaseConsumer.handle` (or
:meth:`BaseConsumer.handle_batch`); the base class does the rest:

* manual acks with a bounded prefetch, acked only after the handler returned;
* ``TransientError`` (and any unexpected exception) -> retry with exponential backoff
  and jitter through a delay queue (per-message TTL, dead-lettered back to the work
  queue), then ack; after ``max_attempts`` -> ``failed.queue``;
* ``PermanentError`` / ``MalformedMessage`` -> ``failed.queue`` at once, with the
  reason, kind, attempt and history in the headers;
* if the republish fails the original is nacked with requeue, so nothing is lost;
* ``stop()`` (SIGTERM/SIGINT with :meth:`install_signal_handlers`) finishes the batch in
  hand, acks it and returns from :meth:`run` within about a second.

Message headers used: ``x-attempt`` (1-based, missing = 1), ``x-history`` (JSON list of
``{"attempt", "error", "at", "kind"}``), ``x-request-id`` (passed through).
"""

from __future__ import annotations

import collections
import json
import logging
import random
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pika
import pika.exceptions
from prometheus_client import Counter, Histogram

from .connection import connect
from .topology import EXCHANGE, FAILED_QUEUE, WORK_QUEUES, declare_topology, delay_queue_for

__all__ = [
    "BaseConsumer",
    "QueueConsumer",
    "StoringConsumer",
    "ConsumedMessage",
    "MalformedMessage",
    "PermanentError",
    "TransientError",
]

logger = logging.getLogger("notification_common.rabbitmq")

MESSAGES = Counter(
    "notification_consumer_messages",
    "Messages seen by consumers, by outcome (consumed = every delivery; "
    "succeeded + retried + dead_lettered = settled; malformed is a subset of dead_lettered).",
    ["queue", "outcome"],
)
HANDLE_SECONDS = Histogram(
    "notification_consumer_handle_seconds",
    "Time spent in one handle_batch call (one message unless batch_size > 1).",
    ["queue"],
)

POLL_SECONDS = 0.5  # longest wait for I/O, so stop() is honoured within about this long
HEARTBEAT_FILE_SECONDS = 2.0
_BROKER_ERRORS = (pika.exceptions.AMQPError, OSError)


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


@dataclass
class _Delivery:
    method: pika.spec.Basic.Deliver
    properties: pika.BasicProperties
    raw: bytes


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


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


class QueueConsumer:
    """The consume loop shared by every consumer: connection, bounded prefetch, batches,
    clean stop, reconnection, heartbeat. Subclasses decide how a batch is settled."""

    queue: str = ""
    prefetch_count: int = 50
    batch_size: int = 1
    batch_wait_seconds: float = 0.02
    heartbeat_path: str | None = None

    def __init__(
        self,
        url: str | None = None,
        *,
        prefetch_count: int | None = None,
        batch_size: int | None = None,
        name: str | None = None,
        heartbeat_path: str | None = None,
    ):
        if not self.queue:
            raise ValueError(f"{type(self).__name__}.queue must name a queue")
        self.url = url
        for attr, value in (
            ("prefetch_count", prefetch_count),
            ("batch_size", batch_size),
            ("heartbeat_path", heartbeat_path),
        ):
            if value is not None:
                setattr(self, attr, value)
        self.batch_size = max(1, int(self.batch_size))
        self.prefetch_count = max(int(self.prefetch_count), self.batch_size)
        self.name = name or f"{type(self).__name__}:{self.queue}"
        self._stop_requested = False
        self._connection: pika.BlockingConnection | None = None
        self._channel = None
        self._publish_channel = None
        self._buffer: collections.deque[_Delivery] = collections.deque()
        self._heartbeat_touched = 0.0

    def on_loop(self) -> None:
        """Called on every turn of the consume loop, busy or idle (at least once a second):
        for heartbeats and housekeeping. Exceptions are logged and never stop the loop."""

    def _process(self, batch: list[_Delivery]) -> int:
        raise NotImplementedError("subclasses settle a batch and return how many were settled")

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
        Broker outages are survived by reconnecting with backoff.
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
                    limit = self.batch_size
                    if max_messages is not None:
                        limit = min(limit, max_messages - processed)
                    batch = self._next_batch(limit)
                    if batch:
                        processed += self._process(batch)
                        last_activity = time.monotonic()
                except _BROKER_ERRORS as exc:
                    logger.warning(
                        "%s: broker connection problem (%r); reconnecting in %.1fs", self.name, exc, reconnect_delay
                    )
                    self._close()
                    self._sleep(reconnect_delay)
                    reconnect_delay = min(reconnect_delay * 2, 15.0)
        finally:
            self._close()
            self._stop_requested = False
        return processed

    def _open(self) -> None:
        self._connection = connect(self.url, connection_name=self.name)
        channel = self._connection.channel()
        declare_topology(channel)
        channel.basic_qos(prefetch_count=self.prefetch_count)
        channel.basic_consume(self.queue, on_message_callback=self._on_message)
        self._channel = channel
        self._publish_channel = None
        logger.info("%s: consuming from %s (prefetch %d)", self.name, self.queue, self.prefetch_count)

    def _close(self) -> None:
        # Unacked deliveries still in the buffer go back to the queue when the channel closes.
        self._buffer.clear()
        connection, self._connection = self._connection, None
        self._channel = self._publish_channel = None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # closing a connection we are giving up on
                logger.debug("%s: error while closing connection", self.name, exc_info=True)

    def _on_message(self, _channel, method, properties, body) -> None:
        self._buffer.append(_Delivery(method, properties, body))

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
        return [self._buffer.popleft() for _ in range(min(limit, len(self._buffer)))]

    # -- shared helpers -------------------------------------------------------------
    def _parse(self, delivery: _Delivery) -> tuple[ConsumedMessage, MalformedMessage | None]:
        """The message (body {} if unusable) and, for an unusable body, the error."""
        props = delivery.properties
        headers = dict(props.headers or {})
        try:
            attempt = max(1, int(headers.get("x-attempt", 1)))
        except (TypeError, ValueError):
            attempt = 1
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

    max_attempts: int = 5
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0

    def __init__(
        self,
        url: str | None = None,
        *,
        max_attempts: int | None = None,
        retry_base_seconds: float | None = None,
        retry_max_seconds: float | None = None,
        prefetch_count: int | None = None,
        batch_size: int | None = None,
        name: str | None = None,
        heartbeat_path: str | None = None,
    ):
        if self.queue not in WORK_QUEUES:
            raise ValueError(f"{type(self).__name__}.queue must be one of {WORK_QUEUES}, got {self.queue!r}")
        super().__init__(
            url, prefetch_count=prefetch_count, batch_size=batch_size, name=name, heartbeat_path=heartbeat_path
        )
        for attr, value in (
            ("max_attempts", max_attempts),
            ("retry_base_seconds", retry_base_seconds),
            ("retry_max_seconds", retry_max_seconds),
        ):
            if value is not None:
                setattr(self, attr, value)

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

    # -- processing ---------------------------------------------------------------
    def _process(self, batch: list[_Delivery]) -> int:
        pending: list[tuple[_Delivery, ConsumedMessage]] = []
        for delivery in batch:
            MESSAGES.labels(self.queue, "consumed").inc()
            message, malformed = self._parse(delivery)
            if malformed is None:
                pending.append((delivery, message))
            else:
                self._settle(delivery, message, malformed)
        if pending:
            messages = [message for _, message in pending]
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
            for (delivery, message), result in zip(pending, results, strict=True):
                self._settle(delivery, message, result)
        return len(batch)

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
        if message.attempt >= self.max_attempts:
            self._dead_letter(
                delivery, message, f"max_attempts_exceeded: {reason}", "exhausted", "transient", history_error=reason
            )
            return
        delay = self.retry_delay(message.attempt, getattr(result, "retry_after", None))
        headers = dict(message.headers)
        headers["x-attempt"] = message.attempt + 1
        headers["x-history"] = self._history_with(message, reason, "transient")
        target = delay_queue_for(self.queue, delay, self.retry_base_seconds)
        props = self._copy_properties(delivery.properties, headers, expiration=str(max(0, int(delay * 1000))))
        if not self._republish(delivery, message, "", target, props):
            return
        MESSAGES.labels(self.queue, "retried").inc()
        logger.info(
            "%s: transient failure, retry %d in %.2fs via %s: %s",
            self.name,
            message.attempt + 1,
            delay,
            target,
            reason,
            extra=extra,
        )
        self._call_hook(self.on_retry, message, result, message.attempt + 1, delay)

    def retry_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before attempt ``attempt + 1``.

        ``base * 2**(attempt-1)`` times a random factor in [0.5, 1.0]; a larger
        ``retry_after`` (e.g. from a Retry-After header) replaces it; the result is capped
        at ``retry_max_seconds`` (so the delay tiers stay meaningful).
        """
        backoff = self.retry_base_seconds * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
        if retry_after is not None and retry_after > backoff:
            backoff = retry_after
        return max(0.0, min(backoff, self.retry_max_seconds))

    def _dead_letter(
        self, delivery, message, reason: str, failure_kind: str, history_kind: str, history_error: str | None = None
    ) -> None:
        now = _now_iso()
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
        props = self._copy_properties(delivery.properties, headers)
        if not self._republish(delivery, message, EXCHANGE, FAILED_QUEUE, props):
            return
        MESSAGES.labels(self.queue, "dead_lettered").inc()
        if failure_kind == "malformed":
            MESSAGES.labels(self.queue, "malformed").inc()
        logger.warning("%s: dead-lettered (%s): %s", self.name, failure_kind, reason, extra=self._log_extra(message))
        self._call_hook(self.on_dead_letter, message, reason)

    @staticmethod
    def _history_with(message: ConsumedMessage, error: str, kind: str, at: str | None = None) -> str:
        entry = {"attempt": message.attempt, "error": error, "at": at or _now_iso(), "kind": kind}
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

    ``handle(message)`` must commit before it returns; then the message is acked. Any
    exception nacks it back to the queue and pauses, so an outage of the store delays
    messages without losing them or spinning on them. Bodies that are not JSON are handed
    over too (``message.body`` is then ``{}``; ``message.raw`` has the bytes).
    """

    failure_pause_seconds: float = 2.0

    def handle(self, message: ConsumedMessage) -> None:
        raise NotImplementedError

    def _process(self, batch: list[_Delivery]) -> int:
        settled = 0
        for delivery in batch:
            MESSAGES.labels(self.queue, "consumed").inc()
            message, _malformed = self._parse(delivery)
            try:
                self.handle(message)
            except Exception:  # the store failed: requeue, nothing is lost
                logger.exception("%s: could not store a message; requeued", self.name, extra=self._log_extra(message))
                self._channel.basic_nack(delivery.method.delivery_tag, requeue=True)
                self._sleep(self.failure_pause_seconds)
                continue
            self._channel.basic_ack(delivery.method.delivery_tag)
            MESSAGES.labels(self.queue, "succeeded").inc()
            settled += 1
        return settled
