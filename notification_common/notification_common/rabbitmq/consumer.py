"""The consumer base every worker builds on: ``QueueConsumer`` here (the consume loop),
``BaseConsumer`` in retrying_consumer.py (work queues), ``StoringConsumer`` in
storing_consumer.py (failed.queue), the message and error vocabulary in consumed.py.
This module is long because the loop, its pause and its worker thread are one state machine;
what both subclasses need (parsing a delivery, publishing a copy on a confirm channel) ends it.

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
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pika
import pika.exceptions
from prometheus_client import Counter, Histogram

from notification_common.heartbeat import Heartbeat
from notification_common.rabbitmq.connection import connect
from notification_common.rabbitmq.consumed import (
    FIRST_ATTEMPT_HEADER,
    NOT_BEFORE_HEADER,
    BlockingDependency,
    ConsumedMessage,
    ConsumerState,
    MalformedMessage,
    _Delivery,
    _parse_history,
    _str_or_none,
    _unix_or_none,
)
from notification_common.rabbitmq.thread_database import close_thread_database_connections
from notification_common.rabbitmq.topology import (
    declare_topology,
)

__all__ = [
    "HANDLE_SECONDS",
    "MESSAGES",
    "QueueConsumer",
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
# While paused, how often the queue's depth is read (passive declare: touches no message).
PAUSED_DEPTH_SECONDS = 2.0
_BROKER_ERRORS = (pika.exceptions.AMQPError, OSError)


class QueueConsumer:
    """The consume loop shared by every consumer: connection, bounded prefetch, batches,
    clean stop, reconnection, heartbeat, pause while a dependency is blocked.
    Subclasses decide how a batch is settled."""

    queue: str = ""
    prefetch_count: int = 50
    batch_size: int = 1
    batch_wait_seconds: float = 0.02
    # The consumer's heartbeat (notification_common.heartbeat): a Redis key the service's HTTP
    # process reads, and/or a file a per-process liveness probe reads; written every turn of
    # the loop (busy, idle or paused), at most every WRITE_EVERY_SECONDS.
    heartbeat_key: str | None = None
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
        self.heartbeat = Heartbeat(self.heartbeat_key, file_path=self.heartbeat_path)
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
        self.heartbeat.beat(self.name, self.state.as_dict())

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
            worker.submit(close_thread_database_connections)
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

    @staticmethod
    def _copy_properties(
        props: pika.BasicProperties, headers: dict, *, content_type: str | None, expiration: str | None = None
    ) -> pika.BasicProperties:
        """The properties of a message published again (a retry, a dead letter, a parked one):
        the original's, persistent, with new ``headers`` (and a TTL for a delay queue)."""
        return pika.BasicProperties(
            content_type=content_type,
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

    def _publish_copy(self, delivery: _Delivery, exchange: str, routing_key: str, props: pika.BasicProperties) -> None:
        """Publish ``delivery``'s body again on the consumer's confirm channel (opened on first
        use) and wait for the broker's confirm. A broker error drops the channel and is raised."""
        try:
            if self._publish_channel is None or not self._publish_channel.is_open:
                self._publish_channel = self._connection.channel()
                self._publish_channel.confirm_delivery()
            self._publish_channel.basic_publish(exchange, routing_key, delivery.raw, props, mandatory=True)
        except _BROKER_ERRORS:
            self._publish_channel = None
            raise

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
