"""Verification of API keys presented in ``X-API-Key``.

The admin service owns keys. A service asks it (``POST /api/v1/admin/api-keys/verify/``)
and caches the verdict in the shared Redis under a key derived from the key's hash, so the
admin service can drop the entry when the key is revoked. Keys given in the environment
(``BOOTSTRAP_API_KEYS``) are accepted when the admin service is not configured or cannot be
reached, so the platform can start before any key exists.
"""

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field

from notification_common.conf import common_settings
from notification_common.exceptions import DependencyUnavailable

logger = logging.getLogger(__name__)

VERIFY_PATH = "/api/v1/admin/api-keys/verify/"


class Scope:
    """API key scopes; one place for their names."""

    INTERNAL = "internal"
    NOTIFICATIONS_SEND = "notifications:send"
    TEMPLATES_WRITE = "templates:write"

    ALL = (INTERNAL, NOTIFICATIONS_SEND, TEMPLATES_WRITE)


@dataclass(frozen=True)
class ApiKeyInfo:
    key_id: str
    name: str
    scopes: tuple[str, ...] = field(default_factory=tuple)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


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


def _ask_admin_service(raw: str) -> ApiKeyInfo | None:
    from notification_common.http_client import envelope_data
    from notification_common.service_clients import admin_client

    response = admin_client().post(VERIFY_PATH, json={"key": raw}, retry=True)
    if response.status_code == 200:
        data = envelope_data(response) or {}
        return ApiKeyInfo(
            key_id=str(data.get("id", "")), name=data.get("name", ""), scopes=tuple(data.get("scopes", []))
        )
    if response.status_code in (401, 403, 404):
        return None
    raise DependencyUnavailable("admin_service", f"admin service answered {response.status_code} to a key check")


def verify_api_key(raw: str) -> ApiKeyInfo | None:
    """Return the key's scopes, or None when the key is unknown, revoked or expired."""
    if not raw:
        return None
    from notification_common.redis_client import get_redis

    redis_key = cache_key(raw)
    redis = get_redis()
    try:
        cached = redis.get(redis_key)
    except Exception:  # Redis down: verification still works, only slower
        cached = None
    if cached is not None:
        verdict = json.loads(cached)
        if not verdict.get("valid"):
            return None
        return ApiKeyInfo(key_id=verdict["key_id"], name=verdict["name"], scopes=tuple(verdict["scopes"]))

    info: ApiKeyInfo | None
    if common_settings.API_KEY_LOCAL_VERIFIER:
        from django.utils.module_loading import import_string

        info = import_string(common_settings.API_KEY_LOCAL_VERIFIER)(raw)
    elif common_settings.ADMIN_SERVICE_URL:
        try:
            info = _ask_admin_service(raw)
        except DependencyUnavailable:
            # Cached like any verdict, so an outage does not cost every request a failed call.
            logger.warning("admin service unreachable; falling back to bootstrap API keys")
            info = _bootstrap_lookup(raw)
    else:
        info = _bootstrap_lookup(raw)

    verdict = {"valid": info is not None}
    if info is not None:
        verdict.update(key_id=info.key_id, name=info.name, scopes=list(info.scopes))
    try:
        redis.set(redis_key, json.dumps(verdict), ex=common_settings.API_KEY_CACHE_SECONDS)
    except Exception:
        pass
    return info


def forget_api_key(key_hash: str) -> None:
    """Drop a cached verdict at once (the admin service calls this on revoke)."""
    from notification_common.redis_client import get_redis

    get_redis().delete(cache_key(key_hash, is_hash=True))
