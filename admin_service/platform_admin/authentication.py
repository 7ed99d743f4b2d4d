"""AdminJWTAuthentication: the one credential of this service's API (admin tokens)."""

from django.contrib.auth import get_user_model
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from platform_admin.constants import CLAIM_ADMIN_ID, TokenType
from platform_admin.tokens import InvalidAdminToken, admin_token_decode

AUTH_SCHEME = "Bearer"


def admin_for_claims(claims: dict):
    """The active staff account a token names, or None."""
    try:
        return get_user_model().objects.get(pk=int(claims[CLAIM_ADMIN_ID]), is_active=True, is_staff=True)
    except (ValueError, TypeError, get_user_model().DoesNotExist):
        return None


class AdminJWTAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = request.headers.get("Authorization")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0] != AUTH_SCHEME:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <admin token>'.")
        try:
            claims = admin_token_decode(parts[1], token_type=TokenType.ACCESS)
        except InvalidAdminToken as exc:
            raise exceptions.AuthenticationFailed("Admin token is invalid or expired.") from exc
        user = admin_for_claims(claims)
        if user is None:
            raise exceptions.AuthenticationFailed("Admin account is unknown or disabled.")
        return user, claims

    def authenticate_header(self, request):
        return f'{AUTH_SCHEME} realm="admin"'


from platform_admin import schema  # noqa: E402,F401  (registers the OpenAPI description)
