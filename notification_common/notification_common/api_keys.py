"""Verification of API keys presented in ``X-API-Key``.

The admin service owns keys. A service asks it (``POST /api/v1/admin/api-keys/verify/``)
and caches the verdict in the shared Redis under a key derived from the key's hash. The
cache is what keeps the platform up while the admin service is down, so each verdict has
its own lifetime:

* valid: re-checked after ``API_KEY_CACHE_SECONDS``, but kept for ``API_KEY_GRACE_SECONDS``:
  while the admin service cannot answer, a key verified within the grace period still works.
  Its ``expires_at`` travels with it and is checked on every use, at the instant;
* revoked: kept for ``API_KEY_REVOKED_CACHE_SECONDS`` (the admin service writes it on revoke),
  so a revoked key, a bootstrap key included, stays refused through an outage;
* unknown or expired: kept for ``API_KEY_CACHE_SECONDS``.

A key with no verdict while the admin service cannot answer gets 503 (not 401: it may be
valid), except the bootstrap keys from the environment (``BOOTSTRAP_API_KEYS``), which let
the platform start before any key exists.
"""

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from notification_common.conf import common_settings
from notification_common.exceptions import DependencyUnavailable

logger = logging.getLogger(__name__)

VERIFY_PATH = "/api/v1/admin/api-keys/verify/"

VALID, REVOKED, EXPIRED, UNKNOWN = "valid", "revoked", "expired", "unknown"


class Scope:
    """API key scopes; one place for their names."""

    INTERNAL = "internal"
    NOTIFICATIONS_SEND = "notifications:send"
    TEMPLATES_READ = "templates:read"
    TEMPLATES_WRITE = "templates:write"
    # Senders sync their own users (user service, /users/by-external-id/ and /users/import/).
    USERS_WRITE = "users:write"

    ALL = (INTERNAL, NOTIFICATIONS_SEND, TEMPLATES_READ, TEMPLATES_WRITE, USERS_WRITE)


@dataclass(frozen=True)
class ApiKeyInfo:
    key_id: str
    name: str
    scopes: tuple[str, ...] = field(default_factory=tuple)
    expires_at: datetime | None = None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and self.expires_at.timestamp() <= (time.time() if now is None else now)


@dataclass(frozen=True)
class KeyRefused:
    """A verifier's negative answer, with why (``revoked``, ``expired`` or ``unknown``)."""

    reason: str = UNKNOWN


def hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def cache_key(raw_or_hash: str, *, is_hash: bool = False) -> str:
    digest = raw_or_hash if is_hash else hash_api_key(raw_or_hash)
    return f"apikey:v1:{digest}"


def _bootstrap_lookup(raw: str) -> ApiKeyInfo | None:
    for key, scopes in common_settings.BOOTSTRAP_API_KEYS.items():
        if hmac.compare_digest(key.encode(), raw.encode()):
            return ApiKeyInfo(key_id=f"bootstrap:{hash_api_key(key)[:8]}", name="bootstrap", scopes=tuple(scopes))
    return None


def _ask_admin_service(raw: str) -> ApiKeyInfo | KeyRefused:
    from notification_common.http_client import envelope_data
    from notification_common.service_clients import admin_client

    response = admin_client().post(VERIFY_PATH, json={"key": raw}, retry=True)
    data = envelope_data(response) or {}
    if response.status_code == 200:
        return ApiKeyInfo(
            key_id=str(data.get("id", "")),
            name=data.get("name", ""),
            scopes=tuple(data.get("scopes", [])),
            expires_at=_parse_time(data.get("expires_at")),
        )
    if response.status_code == 404:
        reason = data.get("reason") if isinstance(data, dict) else None
        return KeyRefused(reason if reason in (REVOKED, EXPIRED) else UNKNOWN)
    # 401/403: our own service key was refused; 5xx: down. Neither says anything about `raw`.
    raise DependencyUnavailable("admin_service", f"admin service answered {response.status_code} to a key check")


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _verdict_of(info: ApiKeyInfo) -> dict:
    return {
        "valid": True,
        "key_id": info.key_id,
        "name": info.name,
        "scopes": list(info.scopes),
        "expires_at": info.expires_at.isoformat() if info.expires_at else None,
        "checked_at": time.time(),
    }


def _info_of(verdict: dict) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=verdict["key_id"],
        name=verdict["name"],
        scopes=tuple(verdict["scopes"]),
        expires_at=_parse_time(verdict.get("expires_at")),
    )


def _cache_read(redis, redis_key: str) -> dict | None:
    try:
        cached = redis.get(redis_key)
        return json.loads(cached) if cached is not None else None
    except Exception:  # Redis down or a broken entry: verification still works, only slower
        return None


def _cache_write(redis, redis_key: str, verdict: dict, ttl: int) -> None:
    try:
        redis.set(redis_key, json.dumps(verdict), ex=max(1, int(ttl)))
    except Exception:
        logger.debug("API key verdict not cached (Redis unavailable)")


def _ask_authority(raw: str) -> ApiKeyInfo | KeyRefused:
    """The admin service's answer (or this service's local lookup); raises
    DependencyUnavailable when it cannot answer."""
    if common_settings.API_KEY_LOCAL_VERIFIER:
        from django.utils.module_loading import import_string

        answer = import_string(common_settings.API_KEY_LOCAL_VERIFIER)(raw)
        return KeyRefused() if answer is None else answer
    if common_settings.ADMIN_SERVICE_URL:
        return _ask_admin_service(raw)
    info = _bootstrap_lookup(raw)
    return KeyRefused() if info is None else info


def verify_api_key(raw: str, *, before_asking: Callable[[], None] | None = None) -> ApiKeyInfo | None:
    """The key's scopes, or None when it is unknown, revoked or expired.

    ``before_asking`` runs only when the admin service is about to be asked (no fresh cached
    verdict): the failed-lookup limit, which a known key's requests then never pay for.
    Raises DependencyUnavailable (503) when the admin service cannot answer for a key it
    has not vouched for within the grace period."""
    if not raw:
        return None
    from notification_common.redis_client import get_redis

    redis_key = cache_key(raw)
    redis = get_redis()
    now = time.time()
    cached = _cache_read(redis, redis_key)
    stale: ApiKeyInfo | None = None
    if cached is not None:
        if not cached.get("valid"):
            return None  # revoked, expired or unknown: each kept as long as it may be trusted
        info = _info_of(cached)
        if info.expired(now):
            return None
        if now - float(cached.get("checked_at", 0)) < common_settings.API_KEY_CACHE_SECONDS:
            return info
        stale = info

    if before_asking is not None:
        before_asking()
    try:
        answer = _ask_authority(raw)
    except DependencyUnavailable:
        if stale is not None:
            logger.warning("admin service unreachable; key %s accepted on its recent verdict", stale.key_id)
            return stale
        bootstrap = _bootstrap_lookup(raw)
        if bootstrap is not None:
            logger.warning("admin service unreachable; bootstrap key accepted")
            return bootstrap
        raise

    if isinstance(answer, KeyRefused):
        ttl = (
            common_settings.API_KEY_REVOKED_CACHE_SECONDS
            if answer.reason == REVOKED
            else common_settings.API_KEY_CACHE_SECONDS
        )
        _cache_write(redis, redis_key, {"valid": False, "reason": answer.reason}, ttl)
        return None
    if answer.expired(now):
        _cache_write(redis, redis_key, {"valid": False, "reason": EXPIRED}, common_settings.API_KEY_CACHE_SECONDS)
        return None
    ttl = max(common_settings.API_KEY_CACHE_SECONDS, common_settings.API_KEY_GRACE_SECONDS)
    if answer.expires_at is not None:
        ttl = min(ttl, max(1, int(answer.expires_at.timestamp() - now) + 1))
    _cache_write(redis, redis_key, _verdict_of(answer), ttl)
    return answer


def forget_api_key(key_hash: str, *, revoked: bool = False) -> None:
    """Drop a cached verdict at once, or (``revoked``) replace it with a long-lived refusal,
    so the key stays refused everywhere even while the admin service is down. The admin
    service calls this after a revoke commits."""
    from notification_common.redis_client import get_redis

    redis_key = cache_key(key_hash, is_hash=True)
    if revoked:
        get_redis().set(
            redis_key, json.dumps({"valid": False, "reason": REVOKED}), ex=common_settings.API_KEY_REVOKED_CACHE_SECONDS
        )
    else:
        get_redis().delete(redis_key)
