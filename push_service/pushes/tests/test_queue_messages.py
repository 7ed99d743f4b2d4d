"""The push queue message contract (docs/architecture.md, "Queue message")."""

import uuid

import pytest

from notification_common.rabbitmq import MalformedMessage
from pushes.queue_messages import parse_push_message
from pushes.tests.conftest import push_message


def test_valid_message_is_parsed_with_duplicate_tokens_dropped():
    body = push_message(tokens=["tok-a", "tok-b", "tok-a"])

    request = parse_push_message(body, attempt=2, final_attempt=True)

    assert request.notification_id == uuid.UUID(body["notification_id"])
    assert request.tokens == ("tok-a", "tok-b")
    assert (request.attempt, request.final_attempt) == (2, True)
    assert request.trace_id == body["trace_id"]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"schema": None}, "schema"),
        ({"notification_type": "email"}, "notification_type"),
        ({"notification_id": None}, "notification_id"),
        ({"user_id": "nope"}, "user_id"),
        ({"template_code": ""}, "template_code"),
        ({"language": 5}, "language"),
        ({"variables": []}, "variables"),
        ({"metadata": "x"}, "metadata"),
        ({"recipient": None}, "recipient"),
        ({"recipient": {"push_tokens": []}}, "push_tokens"),
        ({"recipient": {"push_tokens": [""]}}, "push_tokens[0]"),
        ({"recipient": {"push_tokens": ["t", "x" * 1025]}}, "push_tokens[1]"),
    ],
)
def test_contract_violations_are_malformed_and_name_the_field(overrides, field):
    with pytest.raises(MalformedMessage, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_push_message(push_message() | overrides)
