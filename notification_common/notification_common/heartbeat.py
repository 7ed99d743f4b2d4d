"""A consumer's heartbeat: one JSON value in Redis per consumer kind, and optionally a file.

The consumer process writes it (:class:`Heartbeat`, driven by ``QueueConsumer``'s loop, busy,
idle or paused); the service's HTTP process, another process, reads it for health, stats and
``/metrics`` (:func:`heartbeat_read`). The value is what ``QueueConsumer.state`` says plus
``at`` (unix time), ``consumer`` (its name) and ``pid``::

    {"at": 1764600000.0, "consumer": "EmailConsumer:email.queue", "pid": 42,
     "queue": "email.queue", "paused": false, "dependency": null, "retry_in_seconds": 0,
     "oldest_message_age_seconds": 0.0}

The key is shared by every replica of a consumer kind (the last writer wins): it says that
some consumer is turning. A per-process liveness probe uses the file instead
(``consume_emails --heartbeat-file``), which only its own process touches.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import redis

from notification_common.redis_client import get_redis

logger = logging.getLogger(__name__)

WRITE_EVERY_SECONDS = 2.0
# The key outlives a stopped consumer long enough for its age to be shown, then goes away.
KEY_TTL_SECONDS = 24 * 3600


def heartbeat_write(key: str, *, name: str, state: dict | None = None, now: float | None = None) -> None:
    """Write one beat. Never raises on Redis errors: a missed beat shows in health, and Redis is
    not on the delivery path."""
    at = time.time() if now is None else now
    value = json.dumps({**(state or {}), "at": round(at, 3), "consumer": name, "pid": os.getpid()})
    try:
        get_redis().set(key, value, ex=KEY_TTL_SECONDS)
    except redis.RedisError as exc:
        logger.warning("could not write the consumer heartbeat", extra={"key": key, "error": str(exc)})


def heartbeat_read(key: str) -> dict | None:
    """The last beat with ``age_seconds`` added, or None when there is none (or it is unreadable).
    Raises on Redis errors: the caller reports Redis as down."""
    raw = get_redis().get(key)
    if raw is None:
        return None
    try:
        beat = json.loads(raw)
        if not isinstance(beat, dict):  # a bare number, as consumers of earlier versions wrote
            beat = {"at": float(beat)}
        at = float(beat["at"])
    except (ValueError, KeyError, TypeError):
        return None
    return {**beat, "age_seconds": round(max(0.0, time.time() - at), 3)}


def heartbeat_age_seconds(key: str) -> float | None:
    """Seconds since a consumer last beat, None if none ever did (raises on Redis errors)."""
    beat = heartbeat_read(key)
    return None if beat is None else beat["age_seconds"]


class Heartbeat:
    """What a consumer keeps: at most one write every ``every_seconds`` (Redis key and/or file)."""

    def __init__(self, key: str | None, *, file_path: str | None = None, every_seconds: float = WRITE_EVERY_SECONDS):
        self.key = key
        self.file_path = file_path
        self.every_seconds = every_seconds
        self._last = float("-inf")

    def beat(self, name: str, state: dict | None = None, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_seconds:
            return
        self._last = now
        if self.key:
            heartbeat_write(self.key, name=name, state=state)
        if self.file_path:
            try:
                Path(self.file_path).touch()
            except OSError as exc:  # the probe will see a stale file: that is the signal
                logger.warning("could not touch the heartbeat file", extra={"path": self.file_path, "error": str(exc)})
