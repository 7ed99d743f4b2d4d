"""Sends are rate limited per API key and per user token (429 with Retry-After)."""

import uuid

import pytest

from notification_devtools.testing import assert_envelope
from notifications.tests.conftest import notification_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_rate_limits")]


def test_api_key_over_its_limit_gets_429_with_retry_after(send, user_service, settings):
    settings.RATE_LIMIT_PER_KEY = 2
    user_id = user_service.add_user()
    for _ in range(2):
        assert_envelope(send(notification_body(user_id)), status=202)

    response = send(notification_body(user_id))

    body = assert_envelope(response, status=429, error="rate_limited")
    assert 1 <= int(response["Retry-After"]) <= settings.RATE_LIMIT_WINDOW_SECONDS
    assert body["data"]["retry_after"] == int(response["Retry-After"])


def test_user_token_over_its_limit_gets_429(send, user_service, user_token, settings):
    settings.RATE_LIMIT_PER_USER = 1
    user_id = user_service.add_user()
    token = user_token(user_id)
    assert_envelope(send(notification_body(user_id), token=token), status=202)

    response = send(notification_body(user_id), token=token)

    assert_envelope(response, status=429, error="rate_limited")
    assert "Retry-After" in response


def test_one_users_limit_does_not_hold_back_another_user(send, user_service, user_token, settings):
    settings.RATE_LIMIT_PER_USER = 1
    first, second = user_service.add_user(), user_service.add_user()
    send(notification_body(first), token=user_token(first))
    send(notification_body(first), token=user_token(first))

    response = send(notification_body(second), token=user_token(second))

    assert_envelope(response, status=202)


def test_user_limit_does_not_apply_to_api_keys(send, user_service, settings):
    settings.RATE_LIMIT_PER_USER = 1
    user_id = user_service.add_user()

    statuses = [send(notification_body(user_id)).status_code for _ in range(3)]

    assert statuses == [202, 202, 202]


def test_rate_limit_is_checked_before_the_body_is_validated(send, settings):
    settings.RATE_LIMIT_PER_KEY = 0

    response = send(notification_body(uuid.uuid4(), priority=99))

    assert_envelope(response, status=429, error="rate_limited")
