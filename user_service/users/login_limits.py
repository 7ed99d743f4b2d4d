"""Failed-login limits per email and per client address.

Failures are counted with notification_common.ratelimit (atomic fixed window in Redis).
The failure that reaches the limit sets a lock key that lives until the window ends;
while it exists every attempt, right password or not, gets 429 with Retry-After.
Redis being down disables the limit (logged) rather than every login.
"""

import hashlib
import logging

import redis
from django.conf import settings

from notification_common import ratelimit
from notification_common.exceptions import RateLimited
from notification_common.redis_client import get_redis

logger = logging.getLogger(__name__)

LOCK_PREFIX = "login-lock:"


def _keys(*, email: str, client_ip: str | None) -> list[tuple[str, int]]:
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]  # no addresses in Redis keys
    keys = [(f"login-fail:email:{digest}", settings.LOGIN_MAX_FAILURES_PER_EMAIL)]
    if client_ip:
        keys.append((f"login-fail:ip:{client_ip}", settings.LOGIN_MAX_FAILURES_PER_IP))
    return [(key, limit) for key, limit in keys if limit > 0]


def login_refuse_if_locked(*, email: str, client_ip: str | None) -> None:
    keys = _keys(email=email, client_ip=client_ip)
    if not keys:
        return
    try:
        pipe = get_redis().pipeline(transaction=False)
        for key, _ in keys:
            pipe.pttl(LOCK_PREFIX + key)
        ttls = pipe.execute()
    except redis.RedisError:
        logger.warning("login limits unavailable: Redis unreachable")
        return
    retry_after_ms = max(ttls)
    if retry_after_ms > 0:
        raise RateLimited(max(1, -(-retry_after_ms // 1000)), "Too many failed logins; try again later.")


def login_failure_record(*, email: str, client_ip: str | None) -> None:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    try:
        for key, limit in _keys(email=email, client_ip=client_ip):
            # limit - 1: the failure that reaches the limit locks; the next attempt is refused.
            allowed, retry_after = ratelimit.hit(key, limit=limit - 1, window_seconds=window)
            if not allowed:
                get_redis().set(LOCK_PREFIX + key, 1, ex=retry_after)
    except redis.RedisError:
        logger.warning("login failure not counted: Redis unreachable")


def login_failures_reset(*, email: str) -> None:
    """A successful login clears the email's count (never the address's: one account must
    not be able to clear the count another guesser built up)."""
    try:
        for key, _ in _keys(email=email, client_ip=None):
            ratelimit.reset(key)
    except redis.RedisError:
        logger.warning("login failures not reset: Redis unreachable")
