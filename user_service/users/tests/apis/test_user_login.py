"""POST /api/v1/users/login/: tokens for the right password; failures are rate limited."""

import pytest

from notification_devtools.testing import assert_envelope
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/users/login/"


@pytest.fixture(autouse=True)
def _small_limits(settings):
    settings.LOGIN_MAX_FAILURES_PER_EMAIL = 3
    settings.LOGIN_MAX_FAILURES_PER_IP = 5
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 60


def login(client, email, password=PASSWORD, ip="10.0.0.1"):
    return client.post(URL, {"email": email, "password": password}, format="json", REMOTE_ADDR=ip)


def test_login_answers_access_and_refresh_tokens_and_the_user(api_client, user):
    body = assert_envelope(login(api_client, user.email), status=200)

    assert body["data"]["access"] and body["data"]["refresh"]
    assert body["data"]["token_type"] == "Bearer"
    assert body["data"]["expires_in"] == 15 * 60
    assert body["data"]["user"]["id"] == str(user.id)


def test_login_email_is_case_insensitive(api_client, user):
    assert_envelope(login(api_client, user.email.upper()), status=200)


def test_wrong_password_answers_401_invalid_credentials(api_client, user):
    assert_envelope(login(api_client, user.email, "wrong-password"), status=401, error="invalid_credentials")


def test_unknown_email_answers_the_same_401_as_a_wrong_password(api_client):
    body = assert_envelope(login(api_client, "nobody@example.com"), status=401, error="invalid_credentials")

    assert body["message"] == "Invalid email or password."


def test_deactivated_account_with_right_password_answers_403(api_client):
    user = UserFactory(is_active=False)

    assert_envelope(login(api_client, user.email), status=403, error="account_inactive")


@pytest.mark.parametrize("field", ["email", "password"])
def test_missing_field_is_named_in_a_400(api_client, field):
    body = {"email": "ada@example.com", "password": PASSWORD}
    del body[field]

    response = api_client.post(URL, body, format="json")

    assert field in assert_envelope(response, status=400, error="validation_error")["data"]


def test_failures_up_to_the_email_limit_then_429_with_retry_after(api_client, user):
    for _ in range(3):
        assert login(api_client, user.email, "wrong").status_code == 401

    response = login(api_client, user.email)

    body = assert_envelope(response, status=429, error="rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert body["data"]["retry_after"] == int(response["Retry-After"])


def test_email_limit_applies_from_every_address(api_client, user):
    for n in range(3):
        login(api_client, user.email, "wrong", ip=f"10.0.0.{n}")

    assert login(api_client, user.email, ip="10.9.9.9").status_code == 429


def test_address_limit_covers_guesses_across_many_emails(api_client, user):
    for n in range(5):
        login(api_client, f"guess{n}@example.com", "wrong", ip="10.6.6.6")

    assert login(api_client, user.email, ip="10.6.6.6").status_code == 429
    assert login(api_client, user.email, ip="10.7.7.7").status_code == 200


def test_a_successful_login_clears_the_email_failure_count(api_client, user):
    for _ in range(2):
        login(api_client, user.email, "wrong")
    assert login(api_client, user.email).status_code == 200

    for _ in range(2):
        login(api_client, user.email, "wrong")

    assert login(api_client, user.email).status_code == 200


def test_login_still_works_when_redis_is_down(api_client, user, settings):
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, REDIS_URL="redis://127.0.0.1:1/0")

    assert_envelope(login(api_client, user.email), status=200)


def test_forwarded_address_counts_only_behind_a_trusted_proxy(api_client, user, settings):
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, TRUSTED_PROXIES=["10.0.0.254"])
    for n in range(5):
        api_client.post(
            URL,
            {"email": f"g{n}@example.com", "password": "x"},
            format="json",
            REMOTE_ADDR="10.0.0.254",
            HTTP_X_FORWARDED_FOR="203.0.113.9",
        )

    other_client = login(api_client, user.email, ip="10.0.0.254")

    assert other_client.status_code == 200
