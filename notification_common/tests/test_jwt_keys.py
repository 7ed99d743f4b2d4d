"""User tokens are verified by key id, so the signing key rotates with no downtime: the
current key, and any additional (next or previous) key, each by its kid."""

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from notification_common.jwt_keys import key_id
from notification_common.keys import new_rsa_keypair
from notification_devtools.testing import assert_envelope

NEXT_PRIVATE, NEXT_PUBLIC = new_rsa_keypair()
OTHER_PRIVATE, OTHER_PUBLIC = new_rsa_keypair()


def token(private_pem, *, kid=None):
    now = int(time.time())
    payload = {
        "token_type": "access",
        "user_id": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 300,
        "aud": "notification-platform",
        "iss": "user_service",
    }
    return jwt.encode(payload, private_pem, algorithm="RS256", headers={"kid": kid} if kid else None)


def current_private(settings):
    with open(settings.JWT_PRIVATE_KEY_PATH) as handle:
        return handle.read()


def whoami(api_client, raw):
    return api_client.get("/t/whoami/", HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def with_next_key(settings):
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, JWT_ADDITIONAL_PUBLIC_KEYS=[NEXT_PUBLIC])


def test_a_token_with_the_current_keys_kid_is_accepted(api_client, settings):
    kid = key_id(settings.NOTIFICATION_COMMON["JWT_PUBLIC_KEY"])

    assert_envelope(whoami(api_client, token(current_private(settings), kid=kid)), status=200)


def test_a_token_signed_by_the_next_key_is_accepted_once_it_is_configured(api_client, with_next_key):
    assert_envelope(whoami(api_client, token(NEXT_PRIVATE, kid=key_id(NEXT_PUBLIC))), status=200)


def test_a_token_signed_by_the_next_key_is_refused_before_it_is_configured(api_client):
    assert_envelope(whoami(api_client, token(NEXT_PRIVATE, kid=key_id(NEXT_PUBLIC))), status=401)


def test_an_unknown_kid_is_refused(api_client, with_next_key):
    assert_envelope(whoami(api_client, token(OTHER_PRIVATE, kid=key_id(OTHER_PUBLIC))), status=401)


def test_a_kid_naming_one_key_with_a_signature_of_another_is_refused(api_client, with_next_key):
    assert_envelope(whoami(api_client, token(OTHER_PRIVATE, kid=key_id(NEXT_PUBLIC))), status=401)


def test_a_token_without_kid_is_checked_against_the_current_key_only(api_client, settings, with_next_key):
    assert_envelope(whoami(api_client, token(current_private(settings))), status=200)
    assert_envelope(whoami(api_client, token(NEXT_PRIVATE)), status=401)


def test_kid_is_the_rfc7638_thumbprint():
    # RFC 7638 section 3.1's example key and thumbprint.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
        "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZ"
        "Hzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-k"
        "EgU8awapJzKnqDKgw"
    )
    from jwt.algorithms import RSAAlgorithm

    public = RSAAlgorithm.from_jwk({"kty": "RSA", "e": "AQAB", "n": n})
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    assert key_id(pem) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
