"""Regression (fuzzing, issue 14): a lone surrogate in the variables of
POST /api/v1/templates/substitute/ was a 500. Now a 400 validation_error naming the variable."""

import json

import pytest

from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db

SUBSTITUTE = "/api/v1/templates/substitute/"


def _post_raw(client, body):
    return client.post(SUBSTITUTE, json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(("value", "message"), [("\ud800", "unpaired surrogates"), ("Ada\x00", "NUL")])
def test_unsafe_text_in_a_variable_is_refused_naming_it(internal_client, value, message):
    response = _post_raw(internal_client, {"template_code": "welcome", "variables": {"name": value}})

    body = assert_envelope(response, status=400, error="validation_error")
    assert list(body["data"]) == ["variables.name"]
    assert message in body["data"]["variables.name"][0]
