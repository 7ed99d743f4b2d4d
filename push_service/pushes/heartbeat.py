"""The consumer's heartbeat in Redis, so the HTTP service (another process) can tell whether a
consumer is running. Health reads it; it never calls Google."""

import json
import logging
import os
import time

import redis

from notification_common.redis_client import get_redis

from .constants import HEARTBEAT_KEY

logger = logging.getLogger(__name__)

WRITE_EVERY_SECONDS = 5.0
# The key outlives a stopped consumer long enough for the age to be shown, then goes away.
KEY_TTL_SECONDS = 24 * 3600


def beat(consumer_name: str) -> None:
    value = json.dumps({"at": time.time(), "consumer": consumer_name, "pid": os.getpid()})
    try:
        get_redis().set(HEARTBEAT_KEY, value, ex=KEY_TTL_SECONDS)
    except redis.RedisError as exc:  # health will show a stale heartbeat; delivery goes on
        logger.warning("could not write the consumer heartbeat", extra={"error": str(exc)})


def heartbeat_age_seconds() -> float | None:
    """Seconds since a consumer last beat, None if none ever did (raises on Redis errors)."""
    raw = get_redis().get(HEARTBEAT_KEY)
    if raw is None:
        return None
    try:
        at = float(json.loads(raw)["at"])
    except (ValueError, KeyError, TypeError):
        return None
    return round(max(0.0, time.time() - at), 3)
