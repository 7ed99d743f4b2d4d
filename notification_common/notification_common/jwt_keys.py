"""User-token keys by id, so the signing key can rotate with no downtime.

Every user token carries ``kid`` in its header: the RFC 7638 thumbprint of the public key
that verifies it. Verifiers hold the current public key plus any others configured
(``JWT_ADDITIONAL_PUBLIC_KEYS``: the *next* key before a rotation, the *previous* one after
it) and pick the key by ``kid``; a token without ``kid`` (issued before this existed) is
checked against the current key. The user service publishes all of them as JWKS.
Rotation steps: docs/operations.md, "Rotate keys".
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache

import jwt
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError

__all__ = ["KeyedTokenBackend", "key_id", "public_jwk"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@lru_cache(maxsize=16)
def _public_key(pem: str):
    return serialization.load_pem_public_key(pem.encode())


@lru_cache(maxsize=16)
def public_jwk(public_pem: str, algorithm: str = "RS256") -> dict:
    """The JWK of a PEM public key, with its thumbprint as ``kid``."""
    jwk = RSAAlgorithm.to_jwk(_public_key(public_pem), as_dict=True)
    # RFC 7638 thumbprint: a key id that changes exactly when the key does.
    thumbprint_input = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return {**jwk, "kid": _b64url(hashlib.sha256(thumbprint_input.encode()).digest()), "use": "sig", "alg": algorithm}


def key_id(public_pem: str) -> str:
    return public_jwk(public_pem)["kid"]


class KeyedTokenBackend(TokenBackend):
    """simplejwt's backend, signing with ``kid`` and verifying with the key the ``kid`` names."""

    def __init__(
        self,
        algorithm: str,
        *,
        signing_key: str = "",
        public_key: str,
        additional_public_keys: tuple[str, ...] = (),
        audience: str | None = None,
        issuer: str | None = None,
        leeway: int = 0,
    ):
        super().__init__(algorithm, signing_key, public_key, audience, issuer, None, leeway)
        self.signing_kid = key_id(public_key) if public_key else None
        self.verifying_keys = {key_id(pem): pem for pem in (public_key, *additional_public_keys) if pem}

    def encode(self, payload: dict) -> str:
        jwt_payload = payload.copy()
        if self.audience is not None:
            jwt_payload["aud"] = self.audience
        if self.issuer is not None:
            jwt_payload["iss"] = self.issuer
        headers = {"kid": self.signing_kid} if self.signing_kid else None
        return jwt.encode(
            jwt_payload,
            self.prepared_signing_key,
            algorithm=self.algorithm,
            json_encoder=self.json_encoder,
            headers=headers,
        )

    def get_verifying_key(self, token):
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise TokenBackendError("Token is invalid") from exc
        if kid is None:
            return self.prepared_verifying_key
        pem = self.verifying_keys.get(kid)
        if pem is None:
            raise TokenBackendError("Token is signed by an unknown key")
        return self._prepare_key(pem)
