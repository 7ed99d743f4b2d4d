"""Admin token keys: their own secret (never SECRET_KEY), a kid header, current + next for rotation."""

import time
import uuid

import jwt
import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from notification_devtools.testing import assert_envelope
from platform_admin.constants import CLAIM_ADMIN_ID, CLAIM_TOKEN_TYPE, TokenType
from platform_admin.tokens import admin_tokens_issue, parse_admin_jwt_secrets

pytestmark = pytest.mark.django_db

ME = "/api/v1/admin/me/"
CURRENT = "current-key-" + "c" * 40
NEXT = "next-key-" + "n" * 40


@pytest.fixture
def two_keys(settings):
    settings.ADMIN_JWT_SECRETS = {"2026-12": CURRENT, "2027-01": NEXT}
    settings.ADMIN_JWT_SIGNING_KID = "2026-12"
    return settings


def _get_me(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(ME)


def _forge(admin_user, secret: str, headers: dict | None = None) -> str:
    payload = {
        CLAIM_ADMIN_ID: str(admin_user.pk),
        CLAIM_TOKEN_TYPE: TokenType.ACCESS,
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
        "aud": "notification-admin",
        "iss": "admin_service",
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers)


def test_admin_tokens_name_their_signing_key_in_the_kid_header(admin_user, two_keys):
    access = admin_tokens_issue(user=admin_user)["access"]

    assert jwt.get_unverified_header(access)["kid"] == "2026-12"
    jwt.decode(access, CURRENT, algorithms=["HS256"], audience="notification-admin")


def test_a_token_of_the_previous_key_keeps_working_after_the_next_key_takes_over(admin_user, two_keys):
    before = admin_tokens_issue(user=admin_user)["access"]

    two_keys.ADMIN_JWT_SIGNING_KID = "2027-01"
    after = admin_tokens_issue(user=admin_user)["access"]

    assert jwt.get_unverified_header(after)["kid"] == "2027-01"
    assert_envelope(_get_me(before), status=200)
    assert_envelope(_get_me(after), status=200)


def test_a_token_of_a_retired_key_is_refused(admin_user, two_keys):
    old = admin_tokens_issue(user=admin_user)["access"]

    two_keys.ADMIN_JWT_SECRETS = {"2027-01": NEXT}
    two_keys.ADMIN_JWT_SIGNING_KID = "2027-01"

    assert_envelope(_get_me(old), status=401)


def test_a_token_without_kid_or_naming_another_key_is_refused(admin_user, two_keys):
    assert_envelope(_get_me(_forge(admin_user, CURRENT)), status=401)
    # Signed with the current secret but claiming the next key's kid: the signature fails.
    assert_envelope(_get_me(_forge(admin_user, CURRENT, {"kid": "2027-01"})), status=401)
    assert_envelope(_get_me(_forge(admin_user, CURRENT, {"kid": "unknown"})), status=401)
    assert_envelope(_get_me(_forge(admin_user, CURRENT, {"kid": "2026-12"})), status=200)


def test_the_django_secret_key_no_longer_signs_admin_tokens(admin_user, settings):
    # The old fallback: anyone who knew the (public default) SECRET_KEY could mint an admin token.
    assert settings.SECRET_KEY not in settings.ADMIN_JWT_SECRETS.values()
    forged = _forge(admin_user, settings.SECRET_KEY, {"kid": settings.ADMIN_JWT_SIGNING_KID})

    assert_envelope(_get_me(forged), status=401)


def test_secrets_are_parsed_in_order_and_the_first_signs():
    secrets = parse_admin_jwt_secrets("b=second-secret; a=first-secret ;", single="ignored", default="ignored")

    assert list(secrets.items()) == [("b", "second-secret"), ("a", "first-secret")]


def test_a_single_secret_or_the_default_is_one_key_named_primary():
    assert parse_admin_jwt_secrets("", single="only-secret", default="dev") == {"primary": "only-secret"}
    assert parse_admin_jwt_secrets("", default="dev") == {"primary": "dev"}
    # Production passes no default: nothing configured is no key at all (notification.E004).
    assert parse_admin_jwt_secrets("") == {}


@pytest.mark.parametrize("raw", ["no-equals-sign", "=secret", "kid=", "a=one;a=two"])
def test_malformed_secrets_are_a_configuration_error(raw):
    with pytest.raises(ImproperlyConfigured):
        parse_admin_jwt_secrets(raw)
