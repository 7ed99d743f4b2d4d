"""Admin tokens: signed with this service's own secret, audience notification-admin.

Other services accept only RS256 tokens for notification-platform, so an admin token is
worthless there, and this service never accepts theirs (docs/admin_service.md).
"""

import uuid
from datetime import UTC, datetime, timedelta

import jwt
from django.conf import settings

from platform_admin.constants import CLAIM_ADMIN_ID, CLAIM_TOKEN_TYPE, CLAIM_USERNAME, TokenType


class InvalidAdminToken(Exception):
    pass


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
    return jwt.encode(payload, settings.ADMIN_JWT_SECRET, algorithm=settings.ADMIN_JWT_ALGORITHM)


def admin_token_decode(raw: str, *, token_type: str) -> dict:
    try:
        claims = jwt.decode(
            raw,
            settings.ADMIN_JWT_SECRET,
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
