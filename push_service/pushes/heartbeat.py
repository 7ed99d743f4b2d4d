"""The consumer's heartbeat in Redis, so the HTTP service (another process) can tell whether a
consumer is running, and whether it is paused on an open circuit (health and /metrics read
it; ``QueueConsumer.state`` gives the fields). It never calls Google."""

import json
import logging
import os
import time

import redis

from notification_common.redis_client import get_redis
from pushes.constants import HEARTBEAT_KEY

logger = logging.getLogger(__name__)

WRITE_EVERY_SECONDS = 5.0
# The key outlives a stopped consumer long enough for the age to be shown, then goes away.
KEY_TTL_SECONDS = 24 * 3600


def beat(consumer_name: str, *, state: dict | None = None) -> None:
    value = json.dumps({**(state or {}), "at": time.time(), "consumer": consumer_name, "pid": os.getpid()})
    try:
        get_redis().set(HEARTBEAT_KEY, value, ex=KEY_TTL_SECONDS)
    except redis.RedisError as exc:  # health will show a stale heartbeat; delivery goes on
        logger.warning("could not write the consumer heartbeat", extra={"error": str(exc)})


def heartbeat_read() -> dict | None:
    """The last beat with ``age_seconds`` added, None if none ever did (raises on Redis errors)."""
    raw = get_redis().get(HEARTBEAT_KEY)
    if raw is None:
        return None
    try:
        beat = json.loads(raw)
        at = float(beat["at"])
    except (ValueError, KeyError, TypeError):
        return None
    return {**beat, "age_seconds": round(max(0.0, time.time() - at), 3)}


def heartbeat_age_seconds() -> float | None:
    """Seconds since a consumer last beat, None if none ever did (raises on Redis errors)."""
    beat = heartbeat_read()
    return None if beat is None else beat["age_seconds"]
