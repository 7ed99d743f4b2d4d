"""Regression (fuzzing, issue 14): NUL or a lone surrogate in a request's variables or metadata
was a 500. Now a 400 validation_error naming the field, and nothing is stored or published."""

import json

import pytest

from notification_common.rabbitmq import EMAIL_QUEUE
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.rabbit import drain
from notifications.models import NotificationRequest
from notifications.tests.conftest import NOTIFICATIONS_URL, notification_body

pytestmark = pytest.mark.django_db


def _post_raw(api_client, body: dict, **headers):
    # json.dumps escapes to ASCII: "\u0000" and "\ud800" travel as the JSON escapes a client sends.
    return api_client.post(NOTIFICATIONS_URL, json.dumps(body), content_type="application/json", **headers)


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("variables", {"name": "Ada\x00"}, "variables.name"),
        ("variables", {"name": "\ud800"}, "variables.name"),
        ("metadata", {"campaign": {"tags": ["ok", "bad\x00"]}}, "metadata.campaign.tags.1"),
        ("metadata", {"note": "x\udfff"}, "metadata.note"),
    ],
)
def test_unsafe_text_in_variables_or_metadata_is_refused_naming_the_field(
    api_client, sender_key, user_service, rabbit_channel, field, value, path
):
    user_id = user_service.add_user()

    response = _post_raw(api_client, notification_body(user_id, **{field: value}), HTTP_X_API_KEY=sender_key)

    body = assert_envelope(response, status=400, error="validation_error")
    assert list(body["data"]) == [path]
    assert not NotificationRequest.objects.exists()
    assert drain(rabbit_channel, EMAIL_QUEUE) == []


def test_a_user_token_meets_the_same_refusal(api_client, user_token, user_service):
    user_id = user_service.add_user()

    response = _post_raw(
        api_client,
        notification_body(user_id, variables={"name": "\x00"}),
        HTTP_AUTHORIZATION=f"Bearer {user_token(user_id)}",
    )

    assert assert_envelope(response, status=400, error="validation_error")["data"] == {
        "variables.name": ["Must not contain NUL characters (\\u0000)."]
    }


def test_a_nul_in_a_key_is_refused_without_echoing_the_key(api_client, sender_key, user_service):
    user_id = user_service.add_user()

    response = _post_raw(
        api_client, notification_body(user_id, variables={"na\x00me": "Ada"}), HTTP_X_API_KEY=sender_key
    )

    data = assert_envelope(response, status=400, error="validation_error")["data"]
    assert list(data) == ["variables"]
    assert "key" in data["variables"][0]


def test_a_surrogate_pair_is_text_like_any_other(api_client, sender_key, user_service):
    user_id = user_service.add_user()

    # "\ud83d\ude00" is one character (an emoji) once decoded: accepted.
    response = _post_raw(
        api_client, notification_body(user_id, variables={"name": "Ada \U0001f600"}), HTTP_X_API_KEY=sender_key
    )

    assert assert_envelope(response, status=202)["data"]["variables"]["name"] == "Ada \U0001f600"
