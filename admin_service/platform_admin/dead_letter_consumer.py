"""Moves every message of failed.queue into the DeadLetter table, acking after the commit.

Built on notification_common's StoringConsumer: no retries or dead letters here; a message
that cannot be stored now (database down) goes back to the queue and is tried again.
"""

import json
import logging
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils.dateparse import parse_datetime

from notification_common.conf import common_settings
from notification_common.rabbitmq import FAILED_QUEUE, ConsumedMessage, StoringConsumer
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


class DeadLetterConsumer(StoringConsumer):
    """Stores each failed.queue message as a DeadLetter; acked only after the commit."""

    queue = FAILED_QUEUE

    def __init__(self, url: str | None = None, *, prefetch_count: int | None = None):
        super().__init__(
            url or common_settings.RABBITMQ_URL,
            prefetch_count=prefetch_count or settings.DEAD_LETTER_PREFETCH,
            name="admin_service:dead_letters",
        )

    def handle(self, message: ConsumedMessage) -> None:
        fields = dead_letter_fields(
            body=message.raw, headers=message.headers, message_id=message.message_id, priority=message.priority
        )
        with request_id_scope(str(fields["headers"].get(H_REQUEST_ID) or "") or None):
            if not connection.in_atomic_block:
                close_old_connections()  # a long-lived process: drop a connection the database closed
            dead_letter, created = dead_letter_record(**fields)
            logger.info(
                "dead letter %s (%s): %s",
                "stored" if created else "already stored",
                fields["channel"],
                fields["reason"][:200],
                extra={"dead_letter_id": str(dead_letter.pk), "notification_id": fields["notification_id"]},
            )
