"""User tokens verify with the public key only; API keys by scope; bootstrap keys work offline."""

import json
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import override_settings

from notification_common.api_keys import cache_key
from notification_devtools.testing import assert_envelope, issue_user_token


def _other_keypair(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "other.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def test_user_token_verifies_with_only_the_public_key(api_client, settings):
    token = issue_user_token("4b0e1c8e-2f1a-4c8e-9d7a-3f0a1b2c3d4e")
    common = dict(settings.NOTIFICATION_COMMON)
    settings.SIMPLE_JWT = {}  # nothing but NOTIFICATION_COMMON's public key is used to verify

    with override_settings(NOTIFICATION_COMMON=common):
        response = api_client.get("/t/whoami/", HTTP_AUTHORIZATION=f"Bearer {token}")

    body = assert_envelope(response, status=200)
    assert body["data"]["user_id"] == "4b0e1c8e-2f1a-4c8e-9d7a-3f0a1b2c3d4e"


def test_token_signed_by_another_key_is_refused(api_client, tmp_path):
    token = issue_user_token("u-1", private_key_path=str(_other_keypair(tmp_path)))

    response = api_client.get("/t/whoami/", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_envelope(response, status=401, error="authentication_failed")


def test_expired_token_is_refused(api_client):
    token = issue_user_token("u-1", lifetime=timedelta(seconds=-5))

    assert_envelope(api_client.get("/t/whoami/", HTTP_AUTHORIZATION=f"Bearer {token}"), status=401)


def test_token_for_another_audience_is_refused(api_client):
    token = issue_user_token("u-1", audience="notification-admin")

    assert_envelope(api_client.get("/t/whoami/", HTTP_AUTHORIZATION=f"Bearer {token}"), status=401)


def test_bootstrap_internal_key_passes_the_internal_scope(api_client, internal_key):
    body = assert_envelope(api_client.get("/t/internal/", HTTP_X_API_KEY=internal_key), status=200)

    assert body["data"] == {"internal": True}


def test_key_without_internal_scope_is_forbidden_on_internal_endpoints(api_client, sender_key):
    assert_envelope(api_client.get("/t/internal/", HTTP_X_API_KEY=sender_key), status=403, error="permission_denied")


def test_user_token_is_forbidden_on_internal_endpoints(api_client):
    token = issue_user_token("u-1")

    assert_envelope(api_client.get("/t/internal/", HTTP_AUTHORIZATION=f"Bearer {token}"), status=403)


def test_unknown_key_is_refused_and_the_verdict_cached(api_client, redis_client):
    response = api_client.get("/t/whoami/", HTTP_X_API_KEY="no-such-key")

    assert_envelope(response, status=401, error="authentication_failed")
    assert json.loads(redis_client.get(cache_key("no-such-key"))) == {"valid": False, "reason": "unknown"}


def test_cached_revocation_wins_over_a_bootstrap_key(api_client, internal_key, redis_client):
    redis_client.set(cache_key(internal_key), json.dumps({"valid": False}))

    assert_envelope(api_client.get("/t/internal/", HTTP_X_API_KEY=internal_key), status=401)
