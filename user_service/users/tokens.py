"""User tokens: issued here with the private key (simplejwt, RS256) and a ``kid`` header,
verified everywhere with the public key, which is published as JWKS and PEM
(docs/user_service.md). Keys by id: notification_common.jwt_keys."""

from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from notification_common.conf import common_settings
from notification_common.jwt_keys import KeyedTokenBackend
from notification_common.jwt_keys import public_jwk as jwk_of


@lru_cache(maxsize=4)
def _public_key_from(private_pem: str):
    return serialization.load_pem_private_key(private_pem.encode(), password=None).public_key()


def public_key():
    """Derived from the signing key, so what is published always matches what signs."""
    return _public_key_from(settings.SIMPLE_JWT["SIGNING_KEY"])


def public_key_pem() -> str:
    return (
        public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    )


def public_jwk() -> dict:
    return jwk_of(public_key_pem(), settings.SIMPLE_JWT["ALGORITHM"])


def jwks() -> dict:
    """The signing key first, then the others verifiers accept (the next or previous key)."""
    keys = [public_jwk()]
    for pem in common_settings.JWT_ADDITIONAL_PUBLIC_KEYS or ():
        jwk = jwk_of(pem, settings.SIMPLE_JWT["ALGORITHM"])
        if jwk["kid"] != keys[0]["kid"]:
            keys.append(jwk)
    return {"keys": keys}


@lru_cache(maxsize=4)
def _backend(algorithm, signing_key, public_pem, additional, audience, issuer, leeway) -> KeyedTokenBackend:
    return KeyedTokenBackend(
        algorithm,
        signing_key=signing_key,
        public_key=public_pem,
        additional_public_keys=additional,
        audience=audience,
        issuer=issuer,
        leeway=leeway,
    )


def token_backend() -> KeyedTokenBackend:
    jwt_settings = settings.SIMPLE_JWT
    return _backend(
        jwt_settings["ALGORITHM"],
        jwt_settings["SIGNING_KEY"],
        public_key_pem(),
        tuple(common_settings.JWT_ADDITIONAL_PUBLIC_KEYS or ()),
        jwt_settings.get("AUDIENCE"),
        jwt_settings.get("ISSUER"),
        jwt_settings.get("LEEWAY", 0),
    )


class UserAccessToken(AccessToken):
    @property
    def token_backend(self) -> KeyedTokenBackend:
        return token_backend()


class UserRefreshToken(RefreshToken):
    access_token_class = UserAccessToken

    @property
    def token_backend(self) -> KeyedTokenBackend:
        return token_backend()


def token_pair_for(user) -> dict:
    refresh = UserRefreshToken.for_user(user)
    access = refresh.access_token
    return {
        "access": str(access),
        "refresh": str(refresh),
        "token_type": "Bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }
