"""Moves every message of failed.queue into the DeadLetter table, acking after the commit.

The consumer base of notification_common serves the work queues (it retries and
dead-letters), so failed.queue gets this small loop instead. pika stays inside
notification_common.rabbitmq: only its connection's and channel's methods are used here.
"""

import json
import logging
import signal
import time
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils.dateparse import parse_datetime

from notification_common.conf import common_settings
from notification_common.rabbitmq import FAILED_QUEUE, connect, declare_topology
from notification_common.request_context import request_id_scope
from platform_admin.constants import (
    CHANNEL_BY_QUEUE,
    H_ATTEMPT,
    H_FAILED_AT,
    H_FAILURE_KIND,
    H_FAILURE_REASON,
    H_HISTORY,
    H_ORIGINAL_QUEUE,
    H_REQUEST_ID,
    QUEUE_BY_CHANNEL,
    Channel,
)
from platform_admin.services import dead_letter_record

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # longest wait for I/O, so stop() is honoured within about this long
DB_RETRY_SECONDS = 2.0


def _plain(value):
    """AMQP header values as JSON-safe data (pika gives bytes, datetimes, Decimals)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _history(raw) -> list:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return [{"error": raw}]
    return [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []


def dead_letter_fields(*, body: bytes, headers: dict | None, message_id: str | None, priority: int | None) -> dict:
    """What a failed.queue message says, as arguments of services.dead_letter_record."""
    headers = _plain(dict(headers or {}))
    text = body.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    payload = payload if isinstance(payload, dict) else {}

    original_queue = str(headers.get(H_ORIGINAL_QUEUE) or "")
    channel = CHANNEL_BY_QUEUE.get(original_queue)
    if channel is None and payload.get("notification_type") in QUEUE_BY_CHANNEL:
        channel = payload["notification_type"]
        original_queue = QUEUE_BY_CHANNEL[channel]
    try:
        attempts = max(1, int(headers.get(H_ATTEMPT) or 1))
    except (TypeError, ValueError):
        attempts = 1
    failed_at = headers.get(H_FAILED_AT)
    return {
        "message_id": str(message_id) if message_id else None,
        "notification_id": str(payload.get("notification_id") or message_id or "")[:64],
        "channel": channel or Channel.UNKNOWN,
        "original_queue": original_queue,
        "reason": str(headers.get(H_FAILURE_REASON) or "unknown"),
        "failure_kind": str(headers.get(H_FAILURE_KIND) or "")[:32],
        "attempts": attempts,
        "history": _history(headers.get(H_HISTORY)),
        "headers": headers,
        "priority": priority if isinstance(priority, int) else None,
        "body": text,
        "failed_at": parse_datetime(failed_at) if isinstance(failed_at, str) else None,
    }


class DeadLetterConsumer:
    def __init__(self, url: str | None = None, *, prefetch_count: int | None = None):
        self.url = url or common_settings.RABBITMQ_URL
        self.prefetch_count = prefetch_count or settings.DEAD_LETTER_PREFETCH
        self._stop_requested = False
        self._connection = None
        self._channel = None
        self._buffer: list = []

    def stop(self) -> None:
        """Finish the message in hand, then return from run(). Signal-safe."""
        self._stop_requested = True

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda _signum, _frame: self.stop())

    def run(self, *, max_messages: int | None = None, idle_timeout: float | None = None) -> int:
        """Consume until stop(), ``max_messages`` stored, or ``idle_timeout`` seconds idle."""
        stored = 0
        last_activity = time.monotonic()
        reconnect_delay = 0.5
        try:
            while not self._stop_requested:
                if max_messages is not None and stored >= max_messages:
                    break
                if idle_timeout is not None and time.monotonic() - last_activity >= idle_timeout:
                    break
                try:
                    if self._connection is None:
                        self._open()
                        reconnect_delay = 0.5
                    if not self._buffer:
                        self._connection.process_data_events(time_limit=POLL_SECONDS)
                    while self._buffer and not self._stop_requested:
                        if max_messages is not None and stored >= max_messages:
                            break
                        if self._settle(self._buffer.pop(0)):
                            stored += 1
                        last_activity = time.monotonic()
                except Exception as exc:  # pika's errors cannot be named here; the broker is retried
                    logger.warning("dead letters: broker problem (%r); reconnecting in %.1fs", exc, reconnect_delay)
                    self._close()
                    self._sleep(reconnect_delay)
                    reconnect_delay = min(reconnect_delay * 2, 15.0)
        finally:
            self._close()
            self._stop_requested = False
        return stored

    def _open(self) -> None:
        self._connection = connect(self.url, connection_name="admin_service:dead_letters")
        channel = self._connection.channel()
        declare_topology(channel)
        channel.basic_qos(prefetch_count=self.prefetch_count)
        channel.basic_consume(FAILED_QUEUE, on_message_callback=self._on_message)
        self._channel = channel
        logger.info("dead letters: consuming from %s (prefetch %d)", FAILED_QUEUE, self.prefetch_count)

    def _close(self) -> None:
        # Unacked deliveries still buffered go back to the queue when the connection closes.
        self._buffer.clear()
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # closing a connection we are giving up on
                logger.debug("dead letters: error while closing the connection", exc_info=True)

    def _on_message(self, _channel, method, properties, body) -> None:
        self._buffer.append((method, properties, body))

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop_requested and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _settle(self, delivery) -> bool:
        """Store one message and ack it; on a database failure requeue it. True if stored."""
        method, properties, body = delivery
        fields = dead_letter_fields(
            body=body, headers=properties.headers, message_id=properties.message_id, priority=properties.priority
        )
        with request_id_scope(str(fields["headers"].get(H_REQUEST_ID) or "") or None):
            if not connection.in_atomic_block:
                close_old_connections()  # a long-lived process: drop a connection the database closed
            try:
                dead_letter, created = dead_letter_record(**fields)
            except DatabaseError:
                logger.exception("dead letters: could not store a message; requeued")
                self._channel.basic_nack(method.delivery_tag, requeue=True)
                self._sleep(DB_RETRY_SECONDS)  # do not spin on a message we cannot store now
                return False
            self._channel.basic_ack(method.delivery_tag)
            logger.info(
                "dead letter %s (%s): %s",
                "stored" if created else "already stored",
                fields["channel"],
                fields["reason"][:200],
                extra={"dead_letter_id": str(dead_letter.pk), "notification_id": fields["notification_id"]},
            )
        return True
