"""Writes of the user service: accounts, tokens, devices and delivery status."""

import logging
import uuid

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status as http
from rest_framework_simplejwt.exceptions import TokenError

from notification_common import ratelimit
from notification_common.exceptions import ApplicationError, ErrorCode, NotFound
from notification_common.user_denylist import user_denylist_add, user_denylist_remove
from notification_common.user_snapshots import user_snapshot_forget
from users import tokens
from users.constants import Platform, UserErrorCode
from users.login_limits import user_login_attempt_admit
from users.models import Device, Preferences, User, normalize_email
from users.selectors import user_get

logger = logging.getLogger(__name__)


def _email_taken() -> ApplicationError:
    return ApplicationError(
        UserErrorCode.EMAIL_TAKEN,
        "An account with this email already exists.",
        http.HTTP_409_CONFLICT,
        data={"email": ["An account with this email already exists."]},
    )


def _validate_password(password: str, *, user: User, field_name: str = "password") -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ApplicationError(
            ErrorCode.VALIDATION_ERROR, exc.messages[0], data={field_name: list(exc.messages)}
        ) from exc


# --- accounts ---------------------------------------------------------------------------


def user_registration_rate_limit_enforce(*, client_ip: str | None) -> None:
    """Count one registration from the address; 429 with Retry-After over
    ``USER_REGISTRATION_RATE_LIMIT`` (``0`` turns it off)."""
    limit, window = settings.USER_REGISTRATION_RATE_LIMIT
    if limit and client_ip:
        ratelimit.enforce(
            f"user-register:ip:{client_ip}",
            limit=limit,
            window_seconds=window,
            message="Too many registrations from this address; try again later.",
        )


def user_create(
    *,
    name: str,
    email: str,
    password: str,
    preferences: dict | None = None,
    push_token: str | None = None,
    platform: str | None = None,
) -> User:
    email = normalize_email(email)
    user = User(email=email, name=name.strip())
    _validate_password(password, user=user)
    if User.objects.with_email(email).exists():
        raise _email_taken()
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save(force_insert=True)
            Preferences.objects.create(user=user, **(preferences or {}))
            if push_token:
                device_add(user=user, token=push_token, platform=platform)
    except IntegrityError as exc:
        # Two registrations raced past the check above: the unique index decides.
        if User.objects.with_email(email).exists():
            raise _email_taken() from exc
        raise
    return user


@transaction.atomic
def user_update(*, user: User, name: str | None = None, preferences: dict | None = None) -> User:
    if name is not None:
        user.name = name.strip()
        user.save(update_fields=["name", "updated_at"])
    if preferences:
        prefs, _ = Preferences.objects.select_for_update().get_or_create(user=user)
        for channel, enabled in preferences.items():
            if channel == "categories":
                # Merged switch by switch: {"marketing": {"email": false}} leaves the rest alone.
                prefs.categories = category_switches_merge(prefs.categories, enabled)
            else:
                setattr(prefs, channel, enabled)
        prefs.save()
        user.preferences = prefs
        user_snapshot_forget(user.id)
    return user


def category_switches_merge(current: dict | None, changes: dict) -> dict:
    """Stored category switches with ``changes`` merged switch by switch (PATCH users/me/,
    one-click unsubscribe, sender-managed users): a switch not named keeps its value."""
    merged = {category: dict(switches) for category, switches in (current or {}).items()}
    for category, switches in changes.items():
        merged.setdefault(category, {}).update(switches)
    return merged


@transaction.atomic
def preferences_category_unsubscribe(*, user_id, category: str, channel: str) -> bool:
    """Turn ``category``'s ``channel`` off for the user (one-click unsubscribe); idempotent.

    Returns False when the user does not exist (a token for a deleted user).
    """
    try:
        user = User.objects.filter(id=uuid.UUID(str(user_id))).first()
    except ValueError:
        user = None
    if user is None:
        return False
    prefs, _ = Preferences.objects.select_for_update().get_or_create(user=user)
    if (prefs.categories or {}).get(category, {}).get(channel) is not False:
        prefs.categories = category_switches_merge(prefs.categories, {category: {channel: False}})
        prefs.save(update_fields=["categories", "updated_at"])
    # After commit: the gateway must not re-cache the old copy in between.
    transaction.on_commit(lambda: user_snapshot_forget(user.id))
    return True


def user_password_change(*, user: User, current_password: str, new_password: str) -> User:
    # Counted like logins: a stolen access token must not brute-force the password.
    attempt = user_login_attempt_admit(email=user.email, client_ip=None)
    if not user.check_password(current_password):
        raise ApplicationError(
            UserErrorCode.INVALID_PASSWORD,
            "The current password is wrong.",
            data={"current_password": ["The current password is wrong."]},
        )
    attempt.succeeded()
    _validate_password(new_password, user=user, field_name="new_password")
    user.set_password(new_password)
    user.password_changed_at = timezone.now()
    user.save(update_fields=["password", "password_changed_at", "updated_at"])
    return user


def user_set_active(*, user_id: uuid.UUID, active: bool) -> User:
    updated = User.objects.filter(id=user_id).update(is_active=active, updated_at=timezone.now())
    if not updated:
        raise NotFound("User not found.")
    user_snapshot_forget(user_id)
    # Access tokens are checked without us: the list stops a deactivated user's tokens everywhere.
    (user_denylist_remove if active else user_denylist_add)(user_id)
    return user_get(user_id=user_id)


def user_deactivate(*, user_id: uuid.UUID) -> User:
    return user_set_active(user_id=user_id, active=False)


def user_reactivate(*, user_id: uuid.UUID) -> User:
    return user_set_active(user_id=user_id, active=True)


# --- tokens -----------------------------------------------------------------------------


def user_login(*, email: str, password: str, client_ip: str | None) -> tuple[User, dict]:
    email = normalize_email(email)
    attempt = user_login_attempt_admit(email=email, client_ip=client_ip)
    user = User.objects.with_email(email).first()
    if user is None:
        make_password(password)  # same cost as a real check: no timing hint that the email is unknown
    if user is None or not user.check_password(password):
        raise ApplicationError(
            UserErrorCode.INVALID_CREDENTIALS, "Invalid email or password.", http.HTTP_401_UNAUTHORIZED
        )
    if not user.is_active:
        raise ApplicationError(UserErrorCode.ACCOUNT_INACTIVE, "This account is deactivated.", http.HTTP_403_FORBIDDEN)
    attempt.succeeded()
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    return user, tokens.token_pair_for(user)


def _invalid_refresh(message: str = "The refresh token is invalid or expired.") -> ApplicationError:
    return ApplicationError(UserErrorCode.INVALID_TOKEN, message, http.HTTP_401_UNAUTHORIZED)


def token_refresh(*, refresh: str) -> dict:
    try:
        token = tokens.UserRefreshToken(refresh)
        user_id = uuid.UUID(str(token.get("user_id")))
    except (TokenError, ValueError) as exc:
        raise _invalid_refresh() from exc
    user = User.objects.filter(id=user_id).only("id", "is_active", "password_changed_at").first()
    if user is None or not user.is_active:
        raise _invalid_refresh("The account behind this token no longer exists or is deactivated.")
    issued_at = token.get("iat")
    if user.password_changed_at and (issued_at is None or issued_at < int(user.password_changed_at.timestamp())):
        raise _invalid_refresh("The password changed after this token was issued; log in again.")
    access = token.access_token
    return {
        "access": str(access),
        "token_type": "Bearer",
        "expires_in": int(access.lifetime.total_seconds()),
    }


# --- devices ----------------------------------------------------------------------------


def device_add(*, user: User, token: str, platform: str | None = None, name: str = "") -> tuple[Device, bool]:
    """Register a push token; the same token again refreshes (and reactivates) that device."""
    now = timezone.now()
    changes = {"active": True, "last_seen": now, "deactivated_at": None, "deactivation_reason": ""}
    if platform:
        changes["platform"] = platform
    if name:
        changes["name"] = name
    result = Device.objects.update_or_create(
        user=user,
        token=token,
        defaults=changes,
        create_defaults={**changes, "platform": platform or Platform.DEFAULT, "name": name},
    )
    user_snapshot_forget(user.id)
    return result


def device_remove(*, user_id: uuid.UUID, device_id: uuid.UUID) -> None:
    deleted, _ = Device.objects.filter(user_id=user_id, id=device_id).delete()
    if not deleted:
        raise NotFound("Device not found.")
    user_snapshot_forget(user_id)


def devices_deactivate_by_token(*, token: str, reason: str = "") -> int:
    """Deactivate every active device with this token (the push service's dead tokens)."""
    devices = Device.objects.filter(token=token, active=True)
    owners = set(devices.values_list("user_id", flat=True))
    count = devices.update(
        active=False, deactivated_at=timezone.now(), deactivation_reason=reason[:200], updated_at=timezone.now()
    )
    user_snapshot_forget(*owners)
    return count
