"""What a consumer hands its handler, and what a handler raises back.

``ConsumedMessage`` is one delivery parsed (body, attempt, history, budget start);
``TransientError`` / ``PermanentError`` / ``MalformedMessage`` tell the retrying consumer what
to do with it; ``BlockingDependency`` / ``open_circuit_of`` name a dependency whose circuit
is open, so the consumer pauses instead of spending attempts (consumer.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pika
import pika.exceptions

from notification_common.circuit import CircuitBreaker, CircuitOpenError

__all__ = [
    "BlockingDependency",
    "ConsumedMessage",
    "ConsumerState",
    "FIRST_ATTEMPT_HEADER",
    "MalformedMessage",
    "NOT_BEFORE_HEADER",
    "PermanentError",
    "TransientError",
    "caused_by_open_circuit",
    "open_circuit_of",
]

FIRST_ATTEMPT_HEADER = "x-first-attempt-at"
NOT_BEFORE_HEADER = "x-retry-not-before"


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
