"""Tokens: refresh, the published public key, and verification by other services."""

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from rest_framework.test import APIRequestFactory

from notification_common.authentication import PlatformJWTAuthentication
from notification_devtools.testing import assert_envelope
from users.models import User
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/users/login/"
REFRESH = "/api/v1/users/token/refresh/"


def tokens_for(client, user) -> dict:
    response = client.post(LOGIN, {"email": user.email, "password": PASSWORD}, format="json")
    return assert_envelope(response, status=200)["data"]


def test_access_token_carries_the_platform_claims(api_client, user):
    access = tokens_for(api_client, user)["access"]

    header = jwt.get_unverified_header(access)
    claims = jwt.decode(access, options={"verify_signature": False})
    assert header["alg"] == "RS256"
    assert claims["user_id"] == str(user.id)
    assert claims["aud"] == "notification-platform"
    assert claims["iss"] == "user_service"
    assert claims["token_type"] == "access"
    assert claims["exp"] - claims["iat"] == 15 * 60


def test_refresh_token_lives_seven_days(api_client, user):
    claims = jwt.decode(tokens_for(api_client, user)["refresh"], options={"verify_signature": False})

    assert claims["exp"] - claims["iat"] == 7 * 24 * 3600


def test_issued_access_token_passes_platform_jwt_authentication(api_client, user):
    access = tokens_for(api_client, user)["access"]
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {access}")

    principal, token = PlatformJWTAuthentication().authenticate(request)

    assert str(principal.id) == str(user.id)


def test_issued_access_token_opens_me(api_client, user):
    access = tokens_for(api_client, user)["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")

    assert assert_envelope(api_client.get("/api/v1/users/me/"), status=200)["data"]["id"] == str(user.id)


def test_refresh_answers_a_new_access_token(api_client, user):
    refresh = tokens_for(api_client, user)["refresh"]

    body = assert_envelope(api_client.post(REFRESH, {"refresh": refresh}, format="json"), status=200)

    claims = jwt.decode(body["data"]["access"], options={"verify_signature": False})
    assert claims["user_id"] == str(user.id) and claims["token_type"] == "access"


def test_refresh_with_an_access_token_answers_401(api_client, user):
    access = tokens_for(api_client, user)["access"]

    assert_envelope(api_client.post(REFRESH, {"refresh": access}, format="json"), status=401, error="invalid_token")


def test_refresh_with_garbage_answers_401(api_client):
    response = api_client.post(REFRESH, {"refresh": "not-a-token"}, format="json")

    assert_envelope(response, status=401, error="invalid_token")


def test_refresh_without_token_names_the_field(api_client):
    body = assert_envelope(api_client.post(REFRESH, {}, format="json"), status=400, error="validation_error")

    assert "refresh" in body["data"]


def test_refresh_for_a_deactivated_user_answers_401(api_client, user):
    refresh = tokens_for(api_client, user)["refresh"]
    user.is_active = False
    user.save()

    assert_envelope(api_client.post(REFRESH, {"refresh": refresh}, format="json"), status=401, error="invalid_token")


def test_refresh_for_a_deleted_user_answers_401(api_client, user):
    refresh = tokens_for(api_client, user)["refresh"]
    user.delete()

    assert_envelope(api_client.post(REFRESH, {"refresh": refresh}, format="json"), status=401, error="invalid_token")


def test_token_signed_by_another_key_is_refused(api_client, user, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from notification_devtools.testing import issue_user_token

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = tmp_path / "other.pem"
    other.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_user_token(user.id, private_key_path=str(other))}")

    assert_envelope(api_client.get("/api/v1/users/me/"), status=401, error="authentication_failed")


def test_jwks_publishes_the_rsa_public_key_without_auth(api_client):
    response = api_client.get("/api/v1/users/jwks/")

    assert response.status_code == 200
    [key] = response.json()["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert key["kid"] and key["n"] and key["e"]


def test_public_key_endpoint_serves_the_pem_matching_the_signing_key(api_client):
    body = assert_envelope(api_client.get("/api/v1/users/public-key/"), status=200)

    assert body["data"]["algorithm"] == "RS256"
    assert body["data"]["public_key"].strip() == Path(django_settings.JWT_PUBLIC_KEY_PATH).read_text().strip()


def test_token_verifies_with_the_published_jwk_alone(api_client, user):
    access = tokens_for(api_client, user)["access"]
    [jwk] = api_client.get("/api/v1/users/jwks/").json()["keys"]

    claims = jwt.decode(
        access,
        jwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience="notification-platform",
        issuer="user_service",
    )

    assert claims["user_id"] == str(user.id)


VERIFY_IN_OTHER_PROCESS = """
import json, sys
import django
from django.conf import settings
pem, token = json.load(sys.stdin)
settings.configure(
    SECRET_KEY="another-service",
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    NOTIFICATION_COMMON={"JWT_PUBLIC_KEY": pem, "JWT_AUDIENCE": "notification-platform", "JWT_ISSUER": "user_service"},
)
django.setup()
from django.utils import timezone
from rest_framework.test import APIRequestFactory
from notification_common.authentication import PlatformJWTAuthentication
principal, _ = PlatformJWTAuthentication().authenticate(
    APIRequestFactory().get("/", HTTP_AUTHORIZATION="Bearer " + token)
)
print(principal.id)
"""


def test_token_verifies_in_another_process_that_has_only_the_public_key(api_client, user):
    """Another service: no database, no private key, only the PEM from /public-key/."""
    access = tokens_for(api_client, user)["access"]
    pem = api_client.get("/api/v1/users/public-key/").json()["data"]["public_key"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_"))}

    result = subprocess.run(
        [sys.executable, "-c", VERIFY_IN_OTHER_PROCESS],
        input=json.dumps([pem, access]),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd="/",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(user.id)


def test_expired_access_token_is_refused(api_client, user):
    from notification_devtools.testing import issue_user_token

    token = issue_user_token(user.id, iat=int(time.time()) - 3600, exp=int(time.time()) - 60)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_envelope(api_client.get("/api/v1/users/me/"), status=401)


def test_refresh_token_issued_before_a_password_change_answers_401(api_client, user):
    refresh = tokens_for(api_client, user)["refresh"]
    # The change happens in a later second than the token's iat (whole seconds).
    User.objects.filter(id=user.id).update(password_changed_at=timezone.now() + timedelta(seconds=2))

    response = api_client.post(REFRESH, {"refresh": refresh}, format="json")

    assert_envelope(response, status=401, error="invalid_token")


def test_refresh_token_issued_after_a_password_change_works(api_client, user):
    User.objects.filter(id=user.id).update(password_changed_at=timezone.now())
    refresh = tokens_for(api_client, user)["refresh"]

    assert_envelope(api_client.post(REFRESH, {"refresh": refresh}, format="json"), status=200)
