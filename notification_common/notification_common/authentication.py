"""DRF authentication and permissions shared by every service.

* ``PlatformJWTAuthentication``: user access tokens issued by the user service, verified
  locally with its public key (no call per request, no user table).
* ``ApiKeyAuthentication``: ``X-API-Key``, verified through ``api_keys.verify_api_key``.
"""

from functools import lru_cache

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.tokens import AccessToken

from notification_common import ratelimit
from notification_common.api_keys import ApiKeyInfo, Scope, verify_api_key
from notification_common.client_ip import client_ip
from notification_common.conf import common_settings
from notification_common.http_client import API_KEY_HEADER
from notification_common.jwt_keys import KeyedTokenBackend
from notification_common.user_denylist import user_denied

USER_ID_CLAIM = "user_id"


@lru_cache(maxsize=8)
def _access_token_class(
    algorithm: str, public_key: str, audience: str, issuer: str, additional_public_keys: tuple[str, ...] = ()
) -> type[AccessToken]:
    backend = KeyedTokenBackend(
        algorithm,
        public_key=public_key,
        additional_public_keys=additional_public_keys,
        audience=audience or None,
        issuer=issuer or None,
    )
    # AccessToken reads its backend from this class attribute; a subclass per key set keeps
    # verification tied to the current settings instead of simplejwt's import-time state.
    return type("PlatformAccessToken", (AccessToken,), {"_token_backend": backend})


def platform_access_token_class() -> type[AccessToken]:
    public_key = common_settings.JWT_PUBLIC_KEY
    if not public_key:
        raise exceptions.AuthenticationFailed("Token verification is not configured on this service.")
    return _access_token_class(
        common_settings.JWT_ALGORITHM,
        public_key,
        common_settings.JWT_AUDIENCE,
        common_settings.JWT_ISSUER,
        tuple(common_settings.JWT_ADDITIONAL_PUBLIC_KEYS or ()),
    )


class PlatformJWTAuthentication(JWTStatelessUserAuthentication):
    www_authenticate_realm = "api"

    def get_validated_token(self, raw_token: bytes):
        token_class = platform_access_token_class()
        try:
            return token_class(raw_token)
        except TokenError as exc:
            raise InvalidToken({"detail": f"Token is invalid or expired: {exc}"}) from exc

    def get_user(self, validated_token) -> TokenUser:
        if USER_ID_CLAIM not in validated_token:
            raise InvalidToken({"detail": "Token has no user id."})
        if user_denied(validated_token[USER_ID_CLAIM]):
            raise exceptions.AuthenticationFailed("This account is deactivated.")
        return TokenUser(validated_token)


class ApiKeyPrincipal:
    """The caller behind an API key; looks enough like a user for DRF."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, info: ApiKeyInfo):
        self.info = info
        self.id = info.key_id
        self.pk = info.key_id
        self.scopes = info.scopes

    def has_scope(self, scope: str) -> bool:
        return self.info.has_scope(scope)

    def __str__(self) -> str:
        return f"api-key:{self.info.name or self.info.key_id}"


class ApiKeyAuthentication(BaseAuthentication):
    """``X-API-Key``. Failed lookups are limited per client address
    (``API_KEY_FAILED_LOOKUPS_PER_MINUTE``), so keys cannot be guessed at speed and a flood
    of made-up keys cannot turn into a flood of calls to the admin service. The limit is
    checked only before the admin service is asked: a key with a fresh cached verdict costs
    one Redis read, not two."""

    def authenticate(self, request):
        raw = request.headers.get(API_KEY_HEADER)
        if raw is None:
            return None
        limit_key = _failed_lookups_key(request)

        def refuse_if_over_the_limit() -> None:  # only before the admin service is asked
            if limit_key is not None:
                ratelimit.refuse_if_over(limit_key, limit=common_settings.API_KEY_FAILED_LOOKUPS_PER_MINUTE)

        info = verify_api_key(raw.strip(), before_asking=refuse_if_over_the_limit)
        if info is None:
            if limit_key is not None:
                ratelimit.hit_quietly(
                    limit_key, limit=common_settings.API_KEY_FAILED_LOOKUPS_PER_MINUTE, window_seconds=60
                )
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return ApiKeyPrincipal(info), info

    def authenticate_header(self, request):
        return API_KEY_HEADER


def _failed_lookups_key(request) -> str | None:
    if common_settings.API_KEY_FAILED_LOOKUPS_PER_MINUTE <= 0:
        return None
    address = client_ip(request)
    return f"apikey-failed:{address}" if address else None


def is_api_key(user) -> bool:
    return isinstance(user, ApiKeyPrincipal)


def is_platform_user(user) -> bool:
    return isinstance(user, TokenUser)


def caller_user_id(user) -> str | None:
    """The platform user's id for a JWT caller, None for API keys."""
    return str(user.id) if is_platform_user(user) else None


class HasScope(BasePermission):
    """``permission_classes = [HasScope.of(Scope.INTERNAL)]``: an API key with any of the scopes."""

    scopes: tuple[str, ...] = ()
    message = "This endpoint needs an API key with the required scope."

    @classmethod
    def of(cls, *scopes: str) -> type["HasScope"]:
        return type(f"HasScope_{'_'.join(scopes)}", (cls,), {"scopes": scopes})

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not getattr(user, "is_authenticated", False):
            return False
        return is_api_key(user) and any(user.has_scope(scope) for scope in self.scopes)


class IsPlatformUser(BasePermission):
    message = "This endpoint needs a user token."

    def has_permission(self, request, view) -> bool:
        return is_platform_user(request.user)


IsInternal = HasScope.of(Scope.INTERNAL)


# Register the OpenAPI descriptions of the classes above (after they exist).
from notification_common import schema as _schema  # noqa: E402, F401
