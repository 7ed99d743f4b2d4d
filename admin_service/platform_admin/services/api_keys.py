"""API keys: create (the key shown once), revoke, rotate, bootstrap keys from the environment,
the lookup other services verify against, and last-used stamps (Redis, flushed to the database)."""

import logging
import secrets
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from redis.exceptions import RedisError
from rest_framework import status

from notification_common.api_keys import (
    EXPIRED,
    REVOKED,
    UNKNOWN,
    ApiKeyInfo,
    KeyRefused,
    Scope,
    forget_api_key,
    hash_api_key,
)
from notification_common.conf import common_settings
from notification_common.exceptions import ApplicationError, ErrorCode
from notification_common.redis_client import get_redis
from platform_admin.constants import (
    API_KEY_PREFIX,
    API_KEY_VISIBLE_CHARS,
    BOOTSTRAP_KEY_NAME,
    REDIS_API_KEY_FLUSH_MARK,
    REDIS_API_KEY_LAST_USED,
    AuditAction,
)
from platform_admin.models import ApiKey
from platform_admin.services.audit import actor_name, audit_record

logger = logging.getLogger(__name__)


def _new_raw_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def _forget_after_commit(key_hash: str, *, revoked: bool = False) -> None:
    # After commit: dropped earlier, a concurrent check could cache the still-valid row again.
    def forget():
        try:
            forget_api_key(key_hash, revoked=revoked)
        except RedisError:
            logger.warning("could not drop a cached API key verdict; it expires with its TTL")

    transaction.on_commit(forget)


@transaction.atomic
def api_key_create(
    *, name: str, scopes: list[str], expires_at: datetime | None, created_by, ip: str | None = None
) -> tuple[ApiKey, str]:
    """A new key; the raw key is returned here and never again. Only superusers mint keys
    with the ``internal`` scope (they can call every internal endpoint of every service)."""
    if Scope.INTERNAL in scopes and not getattr(created_by, "is_superuser", False):
        raise ApplicationError(
            ErrorCode.PERMISSION_DENIED,
            "Only a superuser may create or rotate keys with the internal scope.",
            status.HTTP_403_FORBIDDEN,
            data={"scopes": ["Only a superuser may grant the internal scope."]},
        )
    raw = _new_raw_key()
    api_key = ApiKey.objects.create(
        name=name,
        prefix=raw[:API_KEY_VISIBLE_CHARS],
        key_hash=hash_api_key(raw),
        scopes=sorted(set(scopes)),
        created_by=created_by,
        expires_at=expires_at,
    )
    audit_record(
        actor=actor_name(created_by),
        action=AuditAction.API_KEY_CREATED,
        target=f"api_key:{api_key.pk}",
        details={"name": name, "scopes": api_key.scopes, "prefix": api_key.prefix},
        ip=ip,
    )
    return api_key, raw


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor, ip: str | None = None) -> ApiKey:
    """Revoke (idempotent); other services drop their cached verdict at once."""
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db()
    if updated:
        audit_record(
            actor=actor_name(actor),
            action=AuditAction.API_KEY_REVOKED,
            target=f"api_key:{api_key.pk}",
            details={"name": api_key.name, "prefix": api_key.prefix, "is_bootstrap": api_key.is_bootstrap},
            ip=ip,
        )
        _forget_after_commit(api_key.key_hash, revoked=True)
    return api_key


@transaction.atomic
def api_key_rotate(*, api_key: ApiKey, actor, ip: str | None = None) -> tuple[ApiKey, str]:
    """A new key with the same name, scopes and expiry; the old one is revoked."""
    new_key, raw = api_key_create(
        name=api_key.name, scopes=api_key.scopes, expires_at=api_key.expires_at, created_by=actor, ip=ip
    )
    api_key_revoke(api_key=api_key, actor=actor, ip=ip)
    audit_record(
        actor=actor_name(actor),
        action=AuditAction.API_KEY_ROTATED,
        target=f"api_key:{api_key.pk}",
        details={"replaced_by": str(new_key.pk)},
        ip=ip,
    )
    return new_key, raw


def api_key_register_bootstrap(*, keys: dict[str, list[str]] | None = None) -> list[ApiKey]:
    """Put the environment's bootstrap keys in the table (idempotent).

    A key already there keeps its row: a revoked bootstrap key stays revoked. Its scopes
    follow the environment, which is where bootstrap keys are defined."""
    keys = common_settings.BOOTSTRAP_API_KEYS if keys is None else keys
    created = []
    for raw, scopes in keys.items():
        key_hash = hash_api_key(raw)
        api_key, was_created = ApiKey.objects.get_or_create(
            key_hash=key_hash,
            defaults={
                "name": f"{BOOTSTRAP_KEY_NAME} ({', '.join(scopes)})",
                "prefix": raw[:API_KEY_VISIBLE_CHARS],
                "scopes": sorted(set(scopes)),
                "is_bootstrap": True,
            },
        )
        if was_created:
            created.append(api_key)
        elif api_key.is_bootstrap and api_key.scopes != sorted(set(scopes)):
            ApiKey.objects.filter(pk=api_key.pk).update(scopes=sorted(set(scopes)))
            _forget_after_commit(key_hash)
    return created


def api_key_register_bootstrap_after_migrate(*, using: str = "default", **kwargs) -> None:
    """post_migrate receiver (apps.py)."""
    try:
        with transaction.atomic(using=using):
            created = api_key_register_bootstrap()
    except DatabaseError:
        logger.warning("bootstrap API keys not registered (table missing?)", exc_info=True)
        return
    if created:
        logger.info("registered %d bootstrap API key(s)", len(created))


def _refusal_of(api_key: ApiKey | None) -> str | None:
    """Why a key may not be used (revoked, expired, unknown), or None when it may."""
    if api_key is None:
        return UNKNOWN
    if api_key.revoked_at is not None:
        return REVOKED
    if api_key.expires_at is not None and api_key.expires_at <= timezone.now():
        return EXPIRED
    return None


def api_key_lookup(raw: str) -> tuple[ApiKey | None, str | None]:
    """The key behind ``raw`` and why it is refused (None when usable; its use is recorded)."""
    if not raw:
        return None, UNKNOWN
    key_hash = hash_api_key(raw)
    api_key = ApiKey.objects.filter(key_hash=key_hash).first()
    if api_key is None and raw in common_settings.BOOTSTRAP_API_KEYS:
        # Registration normally runs after migrate; this covers a database set up otherwise.
        api_key_register_bootstrap(keys={raw: common_settings.BOOTSTRAP_API_KEYS[raw]})
        api_key = ApiKey.objects.filter(key_hash=key_hash).first()
    refusal = _refusal_of(api_key)
    if refusal is None:
        api_key_usage_record(key_id=str(api_key.pk))
    return api_key, refusal


def api_key_check(raw: str) -> ApiKey | None:
    """The usable key behind ``raw`` (recording its use), or None."""
    api_key, refusal = api_key_lookup(raw)
    return api_key if refusal is None else None


def api_key_verify(raw: str) -> ApiKeyInfo | KeyRefused:
    """NOTIFICATION_COMMON["API_KEY_LOCAL_VERIFIER"] of this service."""
    api_key, refusal = api_key_lookup(raw)
    if refusal is not None:
        return KeyRefused(refusal)
    return ApiKeyInfo(
        key_id=str(api_key.pk), name=api_key.name, scopes=tuple(api_key.scopes), expires_at=api_key.expires_at
    )


# Delete the pending stamp only if no newer one arrived while we were writing it.
_COMPARE_AND_DELETE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""


def api_key_usage_record(*, key_id: str) -> None:
    """Note a use in Redis; write it to the database at most once per period per key."""
    try:
        redis = get_redis()
        redis.hset(REDIS_API_KEY_LAST_USED, key_id, timezone.now().isoformat())
        mark = REDIS_API_KEY_FLUSH_MARK.format(key_id=key_id)
        if redis.set(mark, "1", nx=True, ex=settings.API_KEY_USAGE_FLUSH_SECONDS):
            api_key_usage_flush(key_ids=[key_id])
    except RedisError:
        logger.warning("API key usage not recorded (Redis unavailable)")


def api_key_usage_flush(*, key_ids: list[str] | None = None) -> int:
    """Write pending last-used stamps from Redis to the database; returns rows updated."""
    redis = get_redis()
    if key_ids is None:
        pending = redis.hgetall(REDIS_API_KEY_LAST_USED)
    else:
        pending = dict(zip(key_ids, redis.hmget(REDIS_API_KEY_LAST_USED, key_ids), strict=True))
    updated = 0
    for raw_id, raw_stamp in pending.items():
        if raw_stamp is None:
            continue
        key_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
        stamp = raw_stamp.decode() if isinstance(raw_stamp, bytes) else raw_stamp
        used_at = parse_datetime(stamp)
        if used_at is not None:
            try:
                updated += ApiKey.objects.filter(
                    Q(last_used_at__isnull=True) | Q(last_used_at__lt=used_at), pk=key_id
                ).update(last_used_at=used_at)
            except (ValidationError, ValueError):
                pass  # not a key id of ours: drop it
        redis.eval(_COMPARE_AND_DELETE, 1, REDIS_API_KEY_LAST_USED, key_id, stamp)
    return updated
