"""Login attempt limits per account and per client address, shared by users and admins.

An attempt is counted *before* the password is checked, in one Lua script that refuses when
either count has reached its limit and otherwise increments both. So N concurrent guesses
can never all slip through between a check and a count: at most ``limit`` passwords are
evaluated per window. A successful login clears the account's count and takes its own
attempt back from the address count (it never clears the address: one account must not wipe
the count that a guesser built up from the same address). While Redis is unreachable the
limit is skipped with a warning rather than refusing every login.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import redis

from notification_common.exceptions import RateLimited
from notification_common.redis_client import get_redis

__all__ = ["LoginAttempt", "login_attempt_admit"]

logger = logging.getLogger(__name__)

# KEYS: counters; ARGV[1]: window in ms, ARGV[2..]: limits (0 = no limit for that key).
_ADMIT = """
local refused_ttl = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i + 1])
  if limit > 0 and tonumber(redis.call('GET', key) or '0') >= limit then
    local ttl = redis.call('PTTL', key)
    if ttl > refused_ttl then refused_ttl = ttl end
  end
end
if refused_ttl > 0 then return refused_ttl end
for i, key in ipairs(KEYS) do
  if tonumber(ARGV[i + 1]) > 0 and redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[1])
  end
end
return 0
"""
_scripts: dict = {}


@dataclass(frozen=True)
class LoginAttempt:
    """An admitted attempt; call :meth:`succeeded` once the password proved right."""

    account_key: str | None
    address_key: str | None

    def succeeded(self) -> None:
        try:
            client = get_redis()
            if self.account_key:
                client.delete(self.account_key)
            if self.address_key:
                client.decr(self.address_key)
        except redis.RedisError:
            logger.warning("login limits: count not cleared, Redis unreachable")


def _script(client):
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_ADMIT)
    return script


def login_attempt_admit(
    *,
    scope: str,
    account: str,
    address: str | None,
    account_limit: int,
    address_limit: int,
    window_seconds: int,
    message: str = "Too many failed logins; try again later.",
) -> LoginAttempt:
    """Count one attempt for ``account`` (and ``address``), or raise RateLimited (429,
    Retry-After) when either has used up its attempts in this window."""
    digest = hashlib.sha256(account.encode()).hexdigest()[:32]  # no emails in Redis keys
    keys, limits = [], []
    if account_limit > 0:
        keys.append(f"login-limit:{scope}:account:{digest}")
        limits.append(account_limit)
    if address and address_limit > 0:
        keys.append(f"login-limit:{scope}:ip:{address}")
        limits.append(address_limit)
    attempt = LoginAttempt(
        account_key=keys[0] if account_limit > 0 else None,
        address_key=keys[-1] if address and address_limit > 0 else None,
    )
    if not keys:
        return attempt
    try:
        client = get_redis()
        refused_ms = int(_script(client)(keys=keys, args=[window_seconds * 1000, *limits]))
    except redis.RedisError:
        logger.warning("login limits unavailable: Redis unreachable; attempt not counted")
        return LoginAttempt(None, None)
    if refused_ms > 0:
        raise RateLimited(max(1, -(-refused_ms // 1000)), message)
    return attempt
