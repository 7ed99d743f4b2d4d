"""Writes of the admin service: admin logins, API keys, dead letters, audited actions on
the other services. Reads are in selectors.py; the dashboard in dashboard.py."""

import logging
import secrets
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q
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
from notification_common.exceptions import ApplicationError, DependencyUnavailable, ErrorCode, NotFound, RateLimited
from notification_common.login_limits import login_attempt_admit
from notification_common.rabbitmq import WORK_QUEUES, PublishError, get_publisher
from notification_common.redis_client import get_redis
from platform_admin import clients
from platform_admin.constants import (
    API_KEY_PREFIX,
    API_KEY_VISIBLE_CHARS,
    BOOTSTRAP_KEY_NAME,
    H_REPLAY_COUNT,
    H_REPLAY_OF,
    H_REQUEST_ID,
    REDIS_API_KEY_FLUSH_MARK,
    REDIS_API_KEY_LAST_USED,
    AdminErrorCode,
    AuditAction,
    TokenType,
)
from platform_admin.models import ApiKey, AuditEntry, DeadLetter
from platform_admin.tokens import InvalidAdminToken, admin_token_decode, admin_tokens_issue

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"


# -- audit --------------------------------------------------------------------------------
def audit_record(*, actor: str, action: str, target: str = "", details: dict | None = None, ip: str | None = None):
    return AuditEntry.objects.create(
        actor=(actor or SYSTEM_ACTOR)[:150], action=action, target=str(target)[:255], details=details or {}, ip=ip
    )


def actor_name(user) -> str:
    return user.get_username() if user is not None else SYSTEM_ACTOR


def admin_site_login_audit(*, username: str, succeeded: bool, ip: str | None, target: str = "") -> None:
    """Logins through the Django admin site's form, audited like the API's."""
    audit_record(
        actor=(username or "").strip().lower() if not succeeded else username,
        action=AuditAction.LOGIN_SUCCEEDED if succeeded else AuditAction.LOGIN_FAILED,
        target=target,
        details={"via": "admin_site"} if succeeded else {"via": "admin_site", "reason": "bad_credentials"},
        ip=ip,
    )


# -- admin accounts -----------------------------------------------------------------------
def _admin_by_credentials(identifier: str, password: str):
    User = get_user_model()
    candidates = list(User.objects.filter(Q(username__iexact=identifier) | Q(email__iexact=identifier))[:5])
    if not candidates:
        User().set_password(password)  # same hashing cost as a real check: no user enumeration by timing
        return None
    for user in candidates:
        if user.check_password(password) and user.is_active and user.is_staff:
            return user
    return None


def admin_login(*, identifier: str, password: str, ip: str | None) -> dict:
    """Admin tokens for a staff account. Attempts are counted before the password is
    checked (a locked-out account cannot probe passwords); a success clears its count."""
    identifier = identifier.strip().lower()
    try:
        attempt = login_attempt_admit(
            scope="admin",
            account=identifier,
            address=ip,
            account_limit=settings.ADMIN_LOGIN_ATTEMPTS_PER_ACCOUNT,
            address_limit=settings.ADMIN_LOGIN_ATTEMPTS_PER_IP,
            window_seconds=settings.ADMIN_LOGIN_WINDOW_SECONDS,
            message="Too many login attempts; try again later.",
        )
    except RateLimited:
        audit_record(actor=identifier, action=AuditAction.LOGIN_FAILED, details={"reason": "rate_limited"}, ip=ip)
        raise

    user = _admin_by_credentials(identifier, password)
    if user is None:
        audit_record(actor=identifier, action=AuditAction.LOGIN_FAILED, details={"reason": "bad_credentials"}, ip=ip)
        raise ApplicationError(
            AdminErrorCode.INVALID_CREDENTIALS, "Invalid username/email or password.", status.HTTP_401_UNAUTHORIZED
        )
    attempt.succeeded()
    update_last_login(None, user)
    audit_record(actor=user.get_username(), action=AuditAction.LOGIN_SUCCEEDED, target=f"admin:{user.pk}", ip=ip)
    return admin_tokens_issue(user=user)


def admin_token_refresh(*, refresh: str) -> dict:
    from platform_admin.authentication import admin_for_claims

    try:
        claims = admin_token_decode(refresh, token_type=TokenType.REFRESH)
    except InvalidAdminToken as exc:
        raise ApplicationError(
            AdminErrorCode.INVALID_CREDENTIALS, "Refresh token is invalid or expired.", status.HTTP_401_UNAUTHORIZED
        ) from exc
    user = admin_for_claims(claims)
    if user is None:
        raise ApplicationError(
            AdminErrorCode.INVALID_CREDENTIALS, "Admin account is unknown or disabled.", status.HTTP_401_UNAUTHORIZED
        )
    return admin_tokens_issue(user=user)


@transaction.atomic
def admin_create(*, username: str, email: str, password: str, superuser: bool = True):
    """A staff account (raises django ValidationError naming the field)."""
    User = get_user_model()
    username, email = username.strip(), email.strip().lower()
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = ["This field is required."]
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = [f"An account named {username!r} already exists."]
    try:
        validate_email(email)
    except ValidationError as exc:
        errors["email"] = list(exc.messages)
    else:
        if User.objects.filter(email__iexact=email).exists():
            errors["email"] = [f"An account with email {email!r} already exists."]
    try:
        validate_password(password, user=User(username=username, email=email))
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    return User.objects.create_user(
        username=username, email=email, password=password, is_staff=True, is_superuser=superuser
    )


# -- API keys -----------------------------------------------------------------------------
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


# -- dead letters ---------------------------------------------------------------------------
@transaction.atomic
def dead_letter_record(
    *,
    message_id: str | None,
    notification_id: str,
    channel: str,
    original_queue: str,
    reason: str,
    failure_kind: str,
    attempts: int,
    history: list,
    headers: dict,
    priority: int | None,
    body: str,
    failed_at: datetime | None,
) -> tuple[DeadLetter, bool]:
    """Store a dead letter; returns (row, stored). A redelivery of a message already stored
    changes nothing; the same message failing again after a replay reopens its row."""
    fields = {
        "notification_id": notification_id,
        "channel": channel,
        "original_queue": original_queue,
        "reason": reason,
        "failure_kind": failure_kind,
        "attempts": attempts,
        "history": history,
        "headers": headers,
        "priority": priority,
        "body": body,
        "failed_at": failed_at,
    }
    if message_id:
        existing = DeadLetter.objects.select_for_update().filter(message_id=message_id).first()
        if existing is not None:
            if existing.replayed_at is None:
                return existing, False
            for name, value in fields.items():
                setattr(existing, name, value)
            existing.replayed_at = None
            existing.received_at = timezone.now()
            existing.save()
            return existing, True
    try:
        with transaction.atomic():
            return DeadLetter.objects.create(message_id=message_id or None, **fields), True
    except IntegrityError:
        # Another consumer stored the same message a moment ago.
        return DeadLetter.objects.get(message_id=message_id), False


def _dead_letter_publish(dead_letter: DeadLetter) -> None:
    # Fresh headers: the retry count and history start over; the trace id stays.
    headers = {H_REPLAY_OF: str(dead_letter.pk), H_REPLAY_COUNT: dead_letter.replay_count}
    request_id = (dead_letter.headers or {}).get(H_REQUEST_ID)
    if request_id:
        headers[H_REQUEST_ID] = str(request_id)
    get_publisher(common_settings.RABBITMQ_URL).publish(
        dead_letter.original_queue,
        dead_letter.body_bytes(),
        headers=headers,
        message_id=dead_letter.message_id,
        priority=dead_letter.priority,
    )


def dead_letter_replay(*, dead_letter_id, actor, ip: str | None = None) -> DeadLetter:
    """Republish one dead letter to its work queue, once.

    The row is locked and marked replayed in the same transaction before publishing, so a
    second click waits and then finds it replayed; a failed publish rolls the mark back."""
    with transaction.atomic():
        dead_letter = DeadLetter.objects.select_for_update().filter(pk=dead_letter_id).first()
        if dead_letter is None:
            raise NotFound("Dead letter not found.")
        if dead_letter.replayed_at is not None:
            raise ApplicationError(
                AdminErrorCode.ALREADY_REPLAYED,
                f"Dead letter {dead_letter.pk} was already replayed at {dead_letter.replayed_at.isoformat()}.",
                status.HTTP_409_CONFLICT,
            )
        if dead_letter.original_queue not in WORK_QUEUES:
            raise ApplicationError(
                AdminErrorCode.NOT_REPLAYABLE,
                f"Dead letter {dead_letter.pk} did not come from a work queue ({dead_letter.original_queue!r}).",
                status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        marked = DeadLetter.objects.filter(pk=dead_letter.pk, replayed_at__isnull=True).update(
            replayed_at=timezone.now(), replay_count=F("replay_count") + 1
        )
        if not marked:  # cannot happen under the row lock; kept as the guarantee itself
            raise ApplicationError(
                AdminErrorCode.ALREADY_REPLAYED, "Dead letter was already replayed.", status.HTTP_409_CONFLICT
            )
        dead_letter.refresh_from_db()
        audit_record(
            actor=actor_name(actor),
            action=AuditAction.DEAD_LETTER_REPLAYED,
            target=f"dead_letter:{dead_letter.pk}",
            details={
                "notification_id": dead_letter.notification_id,
                "queue": dead_letter.original_queue,
                "replay_count": dead_letter.replay_count,
            },
            ip=ip,
        )
        try:
            _dead_letter_publish(dead_letter)
        except PublishError as exc:
            logger.warning("replay of dead letter %s failed: %s", dead_letter.pk, exc)
            message = "The broker did not take the message; nothing was replayed."
            raise DependencyUnavailable("rabbitmq", message) from exc
    return dead_letter


def dead_letters_replay(*, ids: list, actor, ip: str | None = None) -> dict:
    """Replay many, each in its own transaction; says what happened to every id."""
    outcome: dict[str, list[str]] = {"replayed": [], "already_replayed": [], "not_found": [], "failed": []}
    broker_down = False
    for dead_letter_id in dict.fromkeys(str(i) for i in ids):
        if broker_down:
            outcome["failed"].append(dead_letter_id)
            continue
        try:
            dead_letter_replay(dead_letter_id=dead_letter_id, actor=actor, ip=ip)
        except NotFound:
            outcome["not_found"].append(dead_letter_id)
        except DependencyUnavailable:
            broker_down = True
            outcome["failed"].append(dead_letter_id)
        except ApplicationError as exc:
            key = "already_replayed" if exc.code == AdminErrorCode.ALREADY_REPLAYED else "failed"
            outcome[key].append(dead_letter_id)
        else:
            outcome["replayed"].append(dead_letter_id)
    if broker_down and not outcome["replayed"]:
        raise DependencyUnavailable("rabbitmq", "The broker did not take the messages; nothing was replayed.")
    return outcome


# -- actions on the other services ------------------------------------------------------------
def user_deactivate(*, user_id: str, actor, ip: str | None = None) -> dict:
    user = clients.user_set_active(user_id=user_id, active=False)
    audit_record(actor=actor_name(actor), action=AuditAction.USER_DEACTIVATED, target=f"user:{user_id}", ip=ip)
    return user


def user_reactivate(*, user_id: str, actor, ip: str | None = None) -> dict:
    user = clients.user_set_active(user_id=user_id, active=True)
    audit_record(actor=actor_name(actor), action=AuditAction.USER_REACTIVATED, target=f"user:{user_id}", ip=ip)
    return user


def template_create(*, payload: dict, actor, ip: str | None = None) -> dict:
    template = clients.template_create(payload=payload)
    code = (template or {}).get("code") or payload.get("code", "")
    audit_record(
        actor=actor_name(actor),
        action=AuditAction.TEMPLATE_CREATED,
        target=f"template:{code}",
        details={"channel": payload.get("channel")},
        ip=ip,
    )
    return template


def template_version_create(*, code: str, payload: dict, actor, ip: str | None = None) -> dict:
    version = clients.template_version_create(code=code, payload=payload)
    audit_record(
        actor=actor_name(actor),
        action=AuditAction.TEMPLATE_VERSIONED,
        target=f"template:{code}",
        details={
            "language": (version or {}).get("language", payload.get("language")),
            "version": (version or {}).get("version"),
            "activate": bool(payload.get("activate")),
        },
        ip=ip,
    )
    return version


def template_version_activate(*, code: str, version: int, language: str | None, actor, ip: str | None = None) -> dict:
    result = clients.template_version_activate(code=code, version=version, language=language)
    audit_record(
        actor=actor_name(actor),
        action=AuditAction.TEMPLATE_ACTIVATED,
        target=f"template:{code}",
        details={"version": version, "language": language},
        ip=ip,
    )
    return result
