"""Atomic fixed-window rate limits in Redis (one Lua script: increment and expire together)."""

import logging

import redis

from notification_common.exceptions import RateLimited
from notification_common.redis_client import get_redis

logger = logging.getLogger(__name__)

_SCRIPT = """
local cost = tonumber(ARGV[2] or '1')
local count = redis.call('INCRBY', KEYS[1], cost)
if count == cost then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""
_scripts: dict = {}


def hit(key: str, *, limit: int, window_seconds: int, cost: int = 1) -> tuple[bool, int]:
    """Count ``cost`` hits (a bulk request counts each item); return (allowed, retry_after_seconds)."""
    client = get_redis()
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_SCRIPT)
    count, ttl_ms = script(keys=[f"ratelimit:{key}"], args=[window_seconds * 1000, cost])
    if int(count) > limit:
        return False, max(1, -(-int(ttl_ms) // 1000))
    return True, 0


def enforce(key: str, *, limit: int, window_seconds: int, message: str = "Too many requests.", cost: int = 1) -> None:
    """Raise RateLimited (429 with Retry-After) when the key is over its limit."""
    allowed, retry_after = hit(key, limit=limit, window_seconds=window_seconds, cost=cost)
    if not allowed:
        raise RateLimited(retry_after, message)


def reset(key: str) -> None:
    get_redis().delete(f"ratelimit:{key}")


def refuse_if_over(key: str, *, limit: int, message: str = "Too many requests.") -> None:
    """Raise RateLimited when ``key`` has already used up ``limit`` hits in its window
    (without counting this call). Redis being down lets the call through."""
    client = get_redis()
    try:
        pipe = client.pipeline(transaction=False)
        pipe.get(f"ratelimit:{key}")
        pipe.pttl(f"ratelimit:{key}")
        count, ttl_ms = pipe.execute()
    except redis.RedisError:
        return
    if count is not None and int(count) >= limit and ttl_ms > 0:
        raise RateLimited(max(1, -(-int(ttl_ms) // 1000)), message)


def hit_quietly(key: str, *, limit: int, window_seconds: int) -> None:
    """Count one hit, ignoring a Redis outage (for counts that only feed refuse_if_over)."""
    try:
        hit(key, limit=limit, window_seconds=window_seconds)
    except redis.RedisError:
        logger.warning("rate limit %s not counted: Redis unreachable", key.split(":", 1)[0])
