"""POST /api/v1/users/ is limited per client address (USER_REGISTRATION_RATE_LIMIT)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from notification_common.env import env_rate
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db

URL = "/api/v1/users/"


def register(client, n, ip="198.51.100.7", **extra):
    body = {"name": f"User {n}", "email": f"user{n}@example.com", "password": "a-long-password-1"}
    return client.post(URL, body, format="json", REMOTE_ADDR=ip, **extra)


def test_registrations_beyond_the_limit_get_429_with_retry_after(api_client, settings):
    settings.USER_REGISTRATION_RATE_LIMIT = (3, 3600)
    for n in range(3):
        assert_envelope(register(api_client, n), status=201)

    response = register(api_client, 9)

    assert_envelope(response, status=429, error="rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 3600


def test_failed_registrations_count_too(api_client, settings):
    settings.USER_REGISTRATION_RATE_LIMIT = (2, 3600)
    api_client.post(URL, {"email": "not-an-email"}, format="json", REMOTE_ADDR="198.51.100.7")
    api_client.post(URL, {"email": "not-an-email"}, format="json", REMOTE_ADDR="198.51.100.7")

    assert_envelope(register(api_client, 1), status=429, error="rate_limited")


def test_the_limit_is_per_address(api_client, settings):
    settings.USER_REGISTRATION_RATE_LIMIT = (1, 3600)
    register(api_client, 1)

    assert_envelope(register(api_client, 2, ip="198.51.100.8"), status=201)


def test_behind_a_trusted_proxy_the_limit_is_per_forwarded_client(api_client, settings):
    settings.USER_REGISTRATION_RATE_LIMIT = (1, 3600)
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, TRUSTED_PROXIES=["10.0.0.0/8"])
    register(api_client, 1, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.1")

    assert_envelope(register(api_client, 2, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.2"), status=201)
    assert_envelope(register(api_client, 3, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.2"), status=429)


def test_zero_turns_the_limit_off(api_client, settings):
    settings.USER_REGISTRATION_RATE_LIMIT = (0, 0)

    for n in range(5):
        assert_envelope(register(api_client, n), status=201)


@pytest.mark.parametrize(
    ("raw", "expected"), [("20/h", (20, 3600)), ("5/m", (5, 60)), ("0", (0, 0)), ("1/d", (1, 86400))]
)
def test_rate_settings_parse(monkeypatch, raw, expected):
    monkeypatch.setenv("USER_REGISTRATION_RATE_LIMIT", raw)

    assert env_rate("USER_REGISTRATION_RATE_LIMIT", "20/h") == expected


@pytest.mark.parametrize("raw", ["20", "20/week", "-1/h", "x/h", "0/h"])
def test_a_bad_rate_setting_is_refused_at_start(monkeypatch, raw):
    monkeypatch.setenv("USER_REGISTRATION_RATE_LIMIT", raw)

    with pytest.raises(ImproperlyConfigured, match="USER_REGISTRATION_RATE_LIMIT"):
        env_rate("USER_REGISTRATION_RATE_LIMIT", "20/h")
