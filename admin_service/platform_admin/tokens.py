"""Admin tokens: signed with this service's own keys, audience notification-admin.

Other services accept only RS256 tokens for notification-platform, so an admin token is
worthless there, and this service never accepts theirs (docs/admin_service.md).
Each token names its key in the ``kid`` header; every configured key verifies and the
first signs, so keys rotate without logging anyone out (docs/operations.md).
"""

import uuid
from datetime import UTC, datetime, timedelta

import jwt
from django.conf import settings

from platform_admin.constants import CLAIM_ADMIN_ID, CLAIM_TOKEN_TYPE, CLAIM_USERNAME, TokenType

# Development and tests only: production refuses to start with it (notification.E004).
DEV_ADMIN_JWT_SECRET = "dev-insecure-admin-jwt-secret-change-me"
SINGLE_SECRET_KID = "primary"


class InvalidAdminToken(Exception):
    pass


def parse_admin_jwt_secrets(raw: str, *, single: str = "", default: str = "") -> dict[str, str]:
    """ "kid=secret;kid2=secret" -> {kid: secret} in order (the first signs).

    Without it, ``single`` (ADMIN_JWT_SECRET) or else ``default`` is one key, kid "primary".
    """
    from django.core.exceptions import ImproperlyConfigured

    secrets: dict[str, str] = {}
    for entry in raw.split(";"):
        if not entry.strip():
            continue
        kid, sep, secret = entry.partition("=")
        kid, secret = kid.strip(), secret.strip()
        if not sep or not kid or not secret:
            raise ImproperlyConfigured("ADMIN_JWT_SECRETS entries look like kid=secret, separated by ';'")
        if kid in secrets:
            raise ImproperlyConfigured(f"ADMIN_JWT_SECRETS names the kid {kid!r} twice")
        secrets[kid] = secret
    if not secrets and (single or default):
        secrets[SINGLE_SECRET_KID] = single or default
    return secrets


def _lifetime(token_type: str) -> timedelta:
    if token_type == TokenType.ACCESS:
        return timedelta(minutes=settings.ADMIN_ACCESS_TOKEN_MINUTES)
    return timedelta(hours=settings.ADMIN_REFRESH_TOKEN_HOURS)


def admin_token_encode(*, user, token_type: str) -> str:
    now = datetime.now(UTC)
    payload = {
        CLAIM_ADMIN_ID: str(user.pk),
        CLAIM_USERNAME: user.get_username(),
        CLAIM_TOKEN_TYPE: token_type,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + _lifetime(token_type),
        "aud": settings.ADMIN_JWT_AUDIENCE,
        "iss": settings.ADMIN_JWT_ISSUER,
    }
    kid = settings.ADMIN_JWT_SIGNING_KID
    return jwt.encode(
        payload, settings.ADMIN_JWT_SECRETS[kid], algorithm=settings.ADMIN_JWT_ALGORITHM, headers={"kid": kid}
    )


def admin_token_decode(raw: str, *, token_type: str) -> dict:
    try:
        # The kid only picks among our own keys; a token without one, or naming a key we
        # do not hold (retired, or never ours), is refused.
        kid = jwt.get_unverified_header(raw).get("kid")
        secret = settings.ADMIN_JWT_SECRETS.get(kid) if isinstance(kid, str) else None
        if secret is None:
            raise InvalidAdminToken("unknown signing key")
        claims = jwt.decode(
            raw,
            secret,
            # One algorithm only: a token signed any other way (a platform RS256 token) fails here.
            algorithms=[settings.ADMIN_JWT_ALGORITHM],
            audience=settings.ADMIN_JWT_AUDIENCE,
            issuer=settings.ADMIN_JWT_ISSUER,
            options={"require": ["exp", "iat", "aud", "iss", CLAIM_ADMIN_ID]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidAdminToken(str(exc)) from exc
    if claims.get(CLAIM_TOKEN_TYPE) != token_type:
        raise InvalidAdminToken(f"expected a {token_type} token")
    return claims


def admin_tokens_issue(*, user) -> dict:
    return {
        "access": admin_token_encode(user=user, token_type=TokenType.ACCESS),
        "refresh": admin_token_encode(user=user, token_type=TokenType.REFRESH),
        "token_type": "Bearer",
        "expires_in": int(_lifetime(TokenType.ACCESS).total_seconds()),
    }
