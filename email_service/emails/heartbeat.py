"""The consumer's heartbeat in Redis, read by the HTTP process's health check and stats."""

import logging
import time

from emails.constants import HEARTBEAT_KEY, HEARTBEAT_TTL_SECONDS
from notification_common.redis_client import get_redis

logger = logging.getLogger(__name__)


def heartbeat_write(*, now: float | None = None) -> None:
    """Record that a consumer loop is turning. Never raises: Redis is not on the delivery path."""
    try:
        get_redis().set(HEARTBEAT_KEY, f"{time.time() if now is None else now:.3f}", ex=HEARTBEAT_TTL_SECONDS)
    except Exception:  # noqa: BLE001 - a missed beat shows in health; it must not stop deliveries
        logger.warning("could not write the consumer heartbeat to Redis", exc_info=True)


def heartbeat_age_seconds() -> float | None:
    """Seconds since the last beat of any consumer, or None when there is none. Raises on Redis errors."""
    raw = get_redis().get(HEARTBEAT_KEY)
    if raw is None:
        return None
    try:
        return max(0.0, round(time.time() - float(raw), 3))
    except ValueError:
        return None
