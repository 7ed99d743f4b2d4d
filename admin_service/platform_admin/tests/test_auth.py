"""Admin login and the separation of admin tokens from platform tokens (both ways)."""

import time
import uuid
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIClient, APIRequestFactory

from notification_common.authentication import PlatformJWTAuthentication
from notification_devtools.testing import assert_envelope, issue_user_token
from platform_admin.constants import AuditAction
from platform_admin.models import AuditEntry
from platform_admin.tests.factories import ADMIN_PASSWORD, AdminFactory
from platform_admin.tokens import admin_token_encode, admin_tokens_issue

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/admin/login/"
ME = "/api/v1/admin/me/"


def _login(client, **body):
    return client.post(LOGIN, body, format="json")


def test_login_with_username_returns_admin_tokens(api_client, admin_user):
    response = _login(api_client, username="ada", password=ADMIN_PASSWORD)

    data = assert_envelope(response, status=200)["data"]
    claims = jwt.decode(data["access"], settings.ADMIN_JWT_SECRET, algorithms=["HS256"], audience="notification-admin")
    assert claims["iss"] == "admin_service"
    assert claims["sub"] == str(admin_user.pk)
    assert data["refresh"] and data["token_type"] == "Bearer"


def test_login_with_email_in_any_case_returns_admin_tokens(api_client, admin_user):
    response = _login(api_client, email="ADA@example.com", password=ADMIN_PASSWORD)

    assert_envelope(response, status=200)


def test_login_with_wrong_password_is_refused_and_audited(api_client, admin_user):
    response = _login(api_client, username="ada", password="wrong")

    assert_envelope(response, status=401, error="invalid_credentials")
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.details["reason"]) == (AuditAction.LOGIN_FAILED, "ada", "bad_credentials")


def test_successful_login_is_audited(api_client, admin_user):
    _login(api_client, username="ada", password=ADMIN_PASSWORD)

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.ip) == (AuditAction.LOGIN_SUCCEEDED, "ada", "127.0.0.1")


def test_login_of_an_account_that_is_not_staff_is_refused(api_client):
    AdminFactory(username="bob", is_staff=False, is_superuser=False)

    assert_envelope(_login(api_client, username="bob", password=ADMIN_PASSWORD), status=401)


def test_login_of_an_unknown_account_is_refused_like_a_wrong_password(api_client):
    assert_envelope(_login(api_client, username="nobody", password="x"), status=401, error="invalid_credentials")


@pytest.mark.parametrize(
    "body, field",
    [({"username": "ada"}, "password"), ({"password": "x"}, "username")],
)
def test_login_with_a_missing_field_names_it(api_client, body, field):
    body = assert_envelope(_login(api_client, **body), status=400, error="validation_error")
    assert field in body["data"]


def test_failed_logins_are_rate_limited_even_with_the_right_password_afterwards(api_client, admin_user, settings):
    settings.ADMIN_LOGIN_ATTEMPTS_PER_ACCOUNT = 3
    for _ in range(3):
        assert_envelope(_login(api_client, username="ada", password="wrong"), status=401)

    response = _login(api_client, username="ada", password=ADMIN_PASSWORD)

    assert_envelope(response, status=429, error="rate_limited")
    assert int(response["Retry-After"]) > 0
    assert AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED, details__reason="rate_limited").exists()


def test_a_successful_login_clears_the_account_counter(api_client, admin_user, settings):
    settings.ADMIN_LOGIN_ATTEMPTS_PER_ACCOUNT = 3
    _login(api_client, username="ada", password="wrong")
    _login(api_client, username="ada", password="wrong")
    assert_envelope(_login(api_client, username="ada", password=ADMIN_PASSWORD), status=200)

    for _ in range(2):
        assert_envelope(_login(api_client, username="ada", password="wrong"), status=401)


def test_admin_token_opens_the_admin_api(admin_api):
    body = assert_envelope(admin_api.get(ME), status=200)

    assert body["data"]["username"] == "ada"


def test_admin_api_without_a_token_is_401(api_client):
    response = api_client.get(ME)

    assert_envelope(response, status=401, error="not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_platform_user_token_is_refused_here(api_client):
    token = issue_user_token(uuid.uuid4())
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_envelope(api_client.get(ME), status=401, error="authentication_failed")


def test_internal_api_key_does_not_open_the_admin_api(api_client, internal_key):
    api_client.credentials(HTTP_X_API_KEY=internal_key)

    assert_envelope(api_client.get(ME), status=401, error="not_authenticated")


def test_admin_token_is_refused_by_the_other_services_authentication(admin_user):
    token = admin_tokens_issue(user=admin_user)["access"]
    request = APIRequestFactory().get("/anything/", HTTP_AUTHORIZATION=f"Bearer {token}")

    with pytest.raises(AuthenticationFailed):
        PlatformJWTAuthentication().authenticate(request)


def test_platform_token_signed_with_the_admin_secret_is_still_refused_elsewhere(admin_user):
    # Even an HS256 token carrying the platform audience fails: they verify RS256 only.
    forged = jwt.encode(
        {"user_id": str(uuid.uuid4()), "token_type": "access", "aud": "notification-platform", "exp": time.time() + 60},
        settings.ADMIN_JWT_SECRET,
        algorithm="HS256",
    )
    request = APIRequestFactory().get("/anything/", HTTP_AUTHORIZATION=f"Bearer {forged}")

    with pytest.raises(AuthenticationFailed):
        PlatformJWTAuthentication().authenticate(request)


def test_refresh_token_gives_a_new_access_token(api_client, admin_user):
    refresh = admin_tokens_issue(user=admin_user)["refresh"]

    data = assert_envelope(api_client.post("/api/v1/admin/token/refresh/", {"refresh": refresh}), status=200)["data"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {data['access']}")
    assert_envelope(client.get(ME), status=200)


def test_a_refresh_token_is_not_an_access_token(api_client, admin_user):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_tokens_issue(user=admin_user)['refresh']}")

    assert_envelope(api_client.get(ME), status=401)


def test_an_access_token_cannot_refresh(api_client, admin_user):
    access = admin_tokens_issue(user=admin_user)["access"]

    response = api_client.post("/api/v1/admin/token/refresh/", {"refresh": access})

    assert_envelope(response, status=401, error="invalid_credentials")


def test_an_expired_admin_token_is_refused(api_client, admin_user, settings):
    settings.ADMIN_ACCESS_TOKEN_MINUTES = -1
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_token_encode(user=admin_user, token_type='access')}")

    assert_envelope(api_client.get(ME), status=401)


def test_the_token_of_a_deactivated_admin_stops_working(admin_api, admin_user):
    admin_user.is_active = False
    admin_user.save()

    assert_envelope(admin_api.get(ME), status=401)


def test_admin_token_lifetime_follows_the_setting(admin_user, settings):
    settings.ADMIN_ACCESS_TOKEN_MINUTES = 5
    claims = jwt.decode(
        admin_tokens_issue(user=admin_user)["access"],
        settings.ADMIN_JWT_SECRET,
        algorithms=["HS256"],
        audience="notification-admin",
    )

    assert timedelta(seconds=claims["exp"] - claims["iat"]) == timedelta(minutes=5)
