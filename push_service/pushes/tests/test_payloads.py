"""Payload checks before anything is sent: FCM's rules, refused as permanent."""

import pytest

from pushes.constants import MAX_PAYLOAD_BYTES
from pushes.payloads import PayloadError, build_payload


def build(**overrides):
    fields = {"notification_id": "n-1", "title": "Hi", "body": "There", "image_url": None, "data": {"k": "v"}}
    return build_payload(**(fields | overrides))


def test_valid_payload_carries_the_notification_id_in_data():
    payload = build()

    assert payload.data == {"k": "v", "notification_id": "n-1"}
    assert payload.fcm_json() == {"notification": {"title": "Hi", "body": "There"}, "data": payload.data}


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"title": ""}, "title is required"),
        ({"title": None}, "title is required"),
        ({"body": "   "}, "body is required"),
        ({"data": {"count": 3}}, "data['count'] must be a string"),
        ({"data": ["a"]}, "data must be an object"),
        ({"data": {"google.sent": "x"}}, "reserved"),
        ({"data": {"from": "x"}}, "reserved"),
        ({"image_url": 5}, "image_url must be a string"),
    ],
)
def test_invalid_payload_names_the_problem(overrides, expected):
    with pytest.raises(PayloadError) as exc_info:
        build(**overrides)

    assert exc_info.value.code == "invalid_payload"
    assert expected in exc_info.value.message


def test_payload_over_4096_bytes_is_too_large():
    with pytest.raises(PayloadError) as exc_info:
        build(body="é" * (MAX_PAYLOAD_BYTES // 2))  # 2 bytes each in UTF-8

    assert exc_info.value.code == "payload_too_large"


def test_payload_of_exactly_the_limit_is_accepted():
    base = build(body="x").size_bytes - 1
    payload = build(body="x" * (MAX_PAYLOAD_BYTES - base))

    assert payload.size_bytes == MAX_PAYLOAD_BYTES
