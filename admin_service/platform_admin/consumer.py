"""Moves every message of failed.queue into the DeadLetter table, acking after the commit.

Built on notification_common's StoringConsumer: no retries or dead letters here. A message
that cannot be stored now because the database is down goes back to the queue and the
consumer pauses; one that cannot be stored as it is (a NUL byte, broken types) is stored in a
reduced form with the reason, so it never loops (docs/admin_service.md).
"""

import base64
import json
import logging
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection
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
    BodyEncoding,
    Channel,
)
from platform_admin.services import dead_letter_record, dead_letter_record_reduced

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


# Bounds of the reduced form: every header value as text of at most this many characters.
REDUCED_HEADER_KEYS = 100
REDUCED_TEXT_CHARS = 2000
_INT_MAX = 2**31 - 1  # PositiveIntegerField


def _clean_text(value, limit: int = REDUCED_TEXT_CHARS) -> str:
    """Text PostgreSQL takes: NUL bytes and unpaired surrogates escaped, bounded."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")[:limit]


def _clean(value):
    """JSON-safe data with every string cleaned (for history entries)."""
    if isinstance(value, dict):
        return {_clean_text(k, 200): _clean(v) for k, v in list(value.items())[:REDUCED_HEADER_KEYS]}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in list(value)[:REDUCED_HEADER_KEYS]]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and abs(value) <= _INT_MAX:
        return value
    return _clean_text(value)


def _body_text(body: bytes) -> tuple[str, str]:
    """The body as text when it is clean UTF-8, else base64 of the raw bytes: (text, encoding)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:
        return text, ""
    return base64.b64encode(body).decode("ascii"), BodyEncoding.BASE64


def reduced_dead_letter_fields(
    *, body: bytes, headers: dict | None, message_id: str | None, priority: int | None, level: int
) -> dict:
    """A form of a failed.queue message that the database takes, reduced more at each level:
    1 headers as bounded text and the history cleaned; 2 headers and history dropped;
    3 the body as base64 whatever it is, and no message id (a redelivery may then be stored
    twice, the price of storing it at all)."""
    headers = dict(headers or {})
    text, encoding = _body_text(body)
    if level >= 3 and not encoding:
        text, encoding = base64.b64encode(body).decode("ascii"), BodyEncoding.BASE64
    try:
        payload = json.loads(text) if not encoding else None
    except ValueError:
        payload = None
    payload = payload if isinstance(payload, dict) else {}
    original_queue = _clean_text(headers.get(H_ORIGINAL_QUEUE) or "", 255)
    channel = CHANNEL_BY_QUEUE.get(original_queue)
    if channel is None and payload.get("notification_type") in QUEUE_BY_CHANNEL:
        channel = payload["notification_type"]
        original_queue = QUEUE_BY_CHANNEL[channel]
    try:
        attempts = min(_INT_MAX, max(1, int(headers.get(H_ATTEMPT) or 1)))
    except (TypeError, ValueError, OverflowError):
        attempts = 1
    kept_headers: dict = {}
    history: list = []
    if level <= 1:
        kept_headers = {
            _clean_text(key, 200): _clean_text(value) for key, value in list(headers.items())[:REDUCED_HEADER_KEYS]
        }
        history = _clean(_history(_plain(headers.get(H_HISTORY))))
    notification_id = payload.get("notification_id") or (message_id if level < 3 else "") or ""
    return {
        "message_id": _clean_text(message_id, 255) if message_id and level < 3 else None,
        "notification_id": _clean_text(notification_id, 64),
        "channel": channel or Channel.UNKNOWN,
        "original_queue": original_queue,
        "reason": _clean_text(headers.get(H_FAILURE_REASON) or "unknown"),
        "failure_kind": _clean_text(headers.get(H_FAILURE_KIND) or "", 32),
        "attempts": attempts,
        "history": history,
        "headers": kept_headers,
        "priority": priority if isinstance(priority, int) and 0 <= priority <= 255 else None,
        "body": text,
        "body_encoding": encoding,
        "failed_at": None,
    }


def database_reachable() -> bool:
    """Whether the database answers now (to tell an outage from a message it refuses)."""
    try:
        if not connection.in_atomic_block:
            close_old_connections()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


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

    def handle_unstorable(self, message: ConsumedMessage, reason: str, attempt: int) -> None:
        fields = reduced_dead_letter_fields(
            body=message.raw,
            headers=message.headers,
            message_id=message.message_id,
            priority=message.priority,
            level=attempt,
        )
        if not connection.in_atomic_block:
            close_old_connections()
        dead_letter, created = dead_letter_record_reduced(store_error=_clean_text(reason, 1000), **fields)
        logger.warning(
            "dead letter %s in a reduced form (%s): %s",
            "stored" if created else "already stored",
            fields["channel"],
            reason[:200],
            extra={"dead_letter_id": str(dead_letter.pk), "level": attempt},
        )

    def store_unavailable(self, error: BaseException) -> bool:
        # Only a connection-level error can mean an outage, and only if the database does
        # not answer now: anything else is this message's fault (DataError, IntegrityError,
        # ValueError...), and so is an OperationalError the answering database raises again.
        if not isinstance(error, OperationalError | InterfaceError):
            return False
        return not database_reachable()
