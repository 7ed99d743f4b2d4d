"""The consumer's heartbeat in Redis, read by the HTTP process's health check, stats and /metrics.

The value is JSON: ``{"at": unix time, "paused": bool, "dependency": name|null,
"retry_in_seconds", "oldest_message_age_seconds", "queue"}`` (what ``QueueConsumer.state``
says), so the HTTP process can show a paused consumer without talking to it.
"""

import json
import logging
import time

from emails.constants import HEARTBEAT_KEY, HEARTBEAT_TTL_SECONDS
from notification_common.redis_client import get_redis

logger = logging.getLogger(__name__)


def heartbeat_write(*, now: float | None = None, state: dict | None = None) -> None:
    """Record that a consumer loop is turning, and its state. Never raises: Redis is not on the delivery path."""
    value = json.dumps({**(state or {}), "at": round(time.time() if now is None else now, 3)})
    try:
        get_redis().set(HEARTBEAT_KEY, value, ex=HEARTBEAT_TTL_SECONDS)
    except Exception:  # noqa: BLE001 - a missed beat shows in health; it must not stop deliveries
        logger.warning("could not write the consumer heartbeat to Redis", exc_info=True)


def heartbeat_read() -> dict | None:
    """The last beat with ``age_seconds`` added, or None when there is none. Raises on Redis errors."""
    raw = get_redis().get(HEARTBEAT_KEY)
    if raw is None:
        return None
    try:
        beat = json.loads(raw)
        if not isinstance(beat, dict):  # a bare number: written by a consumer of an earlier version
            beat = {"at": float(beat)}
        at = float(beat["at"])
    except (ValueError, KeyError, TypeError):
        return None
    return {**beat, "age_seconds": max(0.0, round(time.time() - at, 3))}


def heartbeat_age_seconds() -> float | None:
    """Seconds since the last beat of any consumer, or None when there is none. Raises on Redis errors."""
    beat = heartbeat_read()
    return None if beat is None else beat["age_seconds"]
