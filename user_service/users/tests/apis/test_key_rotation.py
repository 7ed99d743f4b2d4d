"""Signing-key rotation with no downtime: tokens carry kid; JWKS lists the signing key and
the additional (next or previous) keys; verifiers accept each by its kid.

The rotation: (1) publish the next public key everywhere (JWT_ADDITIONAL_PUBLIC_KEY_PATHS);
(2) switch the user service's private key to the next one, keeping the old public key as an
additional key until the last token it signed has expired; (3) drop the old key."""

import jwt
import pytest
from rest_framework.test import APIClient

from notification_common.jwt_keys import key_id
from notification_common.keys import new_rsa_keypair
from notification_devtools.testing import assert_envelope
from users import tokens
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/users/login/"


NEXT_PRIVATE, NEXT_PUBLIC = new_rsa_keypair()


def login(user) -> dict:
    response = APIClient().post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json")
    return assert_envelope(response, status=200)["data"]


def me(access):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/v1/users/me/")


def test_issued_tokens_carry_the_kid_of_the_signing_key(api_client, user):
    pair = login(user)
    [jwk] = api_client.get("/api/v1/users/jwks/").json()["keys"]

    assert jwt.get_unverified_header(pair["access"])["kid"] == jwk["kid"]
    assert jwt.get_unverified_header(pair["refresh"])["kid"] == jwk["kid"]
    assert jwk["kid"] == key_id(tokens.public_key_pem())


def test_jwks_lists_the_next_key_once_configured(api_client, settings):
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, JWT_ADDITIONAL_PUBLIC_KEYS=[NEXT_PUBLIC])

    kids = [jwk["kid"] for jwk in api_client.get("/api/v1/users/jwks/").json()["keys"]]

    assert kids == [key_id(tokens.public_key_pem()), key_id(NEXT_PUBLIC)]


def test_a_rotation_keeps_old_and_new_tokens_working(user, settings):
    old_public = tokens.public_key_pem()
    before = login(user)
    # Step 1: every service accepts the next key.
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, JWT_ADDITIONAL_PUBLIC_KEYS=[NEXT_PUBLIC])
    assert_envelope(me(before["access"]), status=200)

    # Step 2: the user service signs with the next key; the old one stays accepted.
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": NEXT_PRIVATE}
    settings.NOTIFICATION_COMMON = dict(
        settings.NOTIFICATION_COMMON, JWT_PUBLIC_KEY=NEXT_PUBLIC, JWT_ADDITIONAL_PUBLIC_KEYS=[old_public]
    )
    after = login(user)

    assert jwt.get_unverified_header(after["access"])["kid"] == key_id(NEXT_PUBLIC)
    assert_envelope(me(after["access"]), status=200)
    assert_envelope(me(before["access"]), status=200)  # signed by the old key, still valid
    refreshed = APIClient().post("/api/v1/users/token/refresh/", {"refresh": before["refresh"]}, format="json")
    assert jwt.get_unverified_header(assert_envelope(refreshed, status=200)["data"]["access"])["kid"] == key_id(
        NEXT_PUBLIC
    )

    # Step 3: the old key is dropped: its tokens stop working.
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, JWT_ADDITIONAL_PUBLIC_KEYS=[])
    assert_envelope(me(before["access"]), status=401)
    assert_envelope(me(after["access"]), status=200)
