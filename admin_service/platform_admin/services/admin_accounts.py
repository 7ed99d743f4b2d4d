"""Admin accounts: login (limited per account and address, audited), token refresh, creation."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from rest_framework import status

from notification_common.exceptions import ApplicationError, RateLimited
from notification_common.login_limits import login_attempt_admit
from platform_admin.constants import (
    AdminErrorCode,
    AuditAction,
    TokenType,
)
from platform_admin.services.audit import audit_record
from platform_admin.tokens import InvalidAdminToken, admin_token_decode, admin_tokens_issue

logger = logging.getLogger(__name__)


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
