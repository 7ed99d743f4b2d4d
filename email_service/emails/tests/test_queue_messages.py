"""The queue message contract (schema 1): valid messages parse, each broken field is named."""

import pytest

from emails.queue_messages import notification_id_of, parse_email_request
from emails.tests.conftest import email_message
from notification_common.rabbitmq import MalformedMessage


def test_valid_message_parses_into_a_request():
    body = email_message()

    request = parse_email_request(body, trace_id="t-1", queue_attempt=2, final_attempt=True)

    assert request.notification_id == body["notification_id"]
    assert (request.recipient_email, request.recipient_name) == ("ada@example.com", "Ada Lovelace")
    assert (request.template_code, request.language, request.variables) == ("welcome", "en", body["variables"])
    assert (request.trace_id, request.queue_attempt, request.final_attempt) == ("t-1", 2, True)


def test_trace_id_falls_back_to_the_body():
    assert parse_email_request(email_message(trace_id="from-body")).trace_id == "from-body"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"schema": None}, "schema"),
        ({"schema": True}, "schema"),
        ({"notification_id": None}, "notification_id"),
        ({"notification_id": "123"}, "notification_id"),
        ({"notification_type": "push"}, "notification_type"),
        ({"recipient": None}, "recipient"),
        ({"recipient": {"name": "Ada"}}, "recipient.email"),
        ({"recipient": {"email": "ada@"}}, "recipient.email"),
        ({"recipient": {"email": "ada@example.com", "name": 5}}, "recipient.name"),
        ({"template_code": None}, "template_code"),
        ({"template_code": "x" * 101}, "template_code"),
        ({"variables": None}, "variables"),
        ({"variables": "name=Ada"}, "variables"),
        ({"language": 5}, "language"),
        ({"metadata": "x"}, "metadata"),
        ({"user_id": "not-a-uuid"}, "user_id"),
    ],
)
def test_broken_field_raises_malformed_message_naming_it(overrides, named):
    with pytest.raises(MalformedMessage) as error:
        parse_email_request(email_message(**overrides))

    assert error.value.reason.startswith("invalid_message: ")
    assert named in error.value.reason


def test_notification_id_of_a_malformed_message_comes_from_body_or_message_id():
    nid = "2b1e8f0e-64f4-4a2c-9a59-0f6f2d1b7f11"
    assert notification_id_of({"notification_id": nid}) == nid
    assert notification_id_of({"notification_id": "bad"}, nid) == nid
    assert notification_id_of({}, "bad") is None
