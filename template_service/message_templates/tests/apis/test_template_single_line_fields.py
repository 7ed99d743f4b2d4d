"""Subjects and push titles are single lines: control characters are refused (issue 14), since a
subject goes into an email header and a title onto a lock screen."""

import pytest

from message_templates.models import Template
from message_templates.tests.factories import email_version, push_version
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"


@pytest.mark.parametrize("subject", ["Welcome\r\nBcc: victim@example.com", "Hi\x1b[2J", "Hello\u2028there"])
def test_a_subject_with_control_characters_is_refused_naming_it(internal_client, subject):
    body = {"code": "welcome", "channel": "email", "versions": [email_version("en", subject=subject)]}

    response = internal_client.post(URL, body, format="json")

    data = assert_envelope(response, status=400, error="validation_error")["data"]
    assert "subject" in str(data)
    assert not Template.objects.exists()


def test_a_push_title_with_a_newline_is_refused(internal_client):
    body = {"code": "shipped", "channel": "push", "versions": [push_version("en", title="Shipped\nnow")]}

    response = internal_client.post(URL, body, format="json")

    assert "title" in str(assert_envelope(response, status=400, error="validation_error")["data"])


def test_an_ordinary_unicode_subject_is_accepted(internal_client):
    body = {"code": "welcome", "channel": "email", "versions": [email_version("en", subject="Olá {{ name }} — été 🚀")]}

    assert_envelope(internal_client.post(URL, body, format="json"), status=201)
