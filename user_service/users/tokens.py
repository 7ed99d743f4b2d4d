"""User tokens: issued here with the private key (simplejwt, RS256), verified everywhere
with the public key, which is published as JWKS and PEM (docs/user_service.md)."""

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from jwt.algorithms import RSAAlgorithm
from rest_framework_simplejwt.tokens import RefreshToken


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


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk() -> dict:
    jwk = RSAAlgorithm.to_jwk(public_key(), as_dict=True)
    # RFC 7638 thumbprint: a key id that changes exactly when the key does.
    thumbprint_input = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    kid = _b64url(hashlib.sha256(thumbprint_input.encode()).digest())
    return {**jwk, "kid": kid, "use": "sig", "alg": settings.SIMPLE_JWT["ALGORITHM"]}


def jwks() -> dict:
    return {"keys": [public_jwk()]}


def token_pair_for(user) -> dict:
    refresh = RefreshToken.for_user(user)
    access = refresh.access_token
    return {
        "access": str(access),
        "refresh": str(refresh),
        "token_type": "Bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }
