"""GET /api/v1/templates/{code}/active/: a version's raw content for consumers that render it."""

import pytest

from message_templates import services
from message_templates.selectors import template_get
from message_templates.tests.factories import EmailTemplateFactory, PushTemplateFactory
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db


def active(client, code="welcome", **params):
    return client.get(f"/api/v1/templates/{code}/active/", params)


def test_email_version_is_served_unrendered_with_its_identity(internal_client):
    template = EmailTemplateFactory(code="welcome")

    data = assert_envelope(active(internal_client, language="en"), status=200)["data"]

    assert data == {
        "template_id": str(template.id),
        "template_code": "welcome",
        "channel": "email",
        "default_language": "en",
        "requested_language": "en",
        "language": "en",
        "version": 1,
        "variables": ["name", "link"],
        "subject": "[en] Welcome, {{ name }}",
        "text_body": "[en] Hi {{ name }}, open {{ link }}",
        "html_body": "<p>[en] Hi {{ name }}, <a href='{{ link }}'>open</a></p>",
    }


def test_push_version_carries_title_body_image_and_data(internal_client):
    PushTemplateFactory(code="shipped")

    data = assert_envelope(active(internal_client, "shipped"), status=200)["data"]

    assert data["channel"] == "push"
    assert set(data) >= {"title", "body", "image_url", "data"}
    assert "subject" not in data


def test_language_falls_back_pt_br_to_pt_and_tags_are_normalised(internal_client):
    EmailTemplateFactory(code="welcome", languages=("en", "pt"))

    data = assert_envelope(active(internal_client, language="PT_br"), status=200)["data"]

    assert (data["requested_language"], data["language"]) == ("pt-BR", "pt")


def test_activation_changes_the_answer_at_once(internal_client):
    EmailTemplateFactory(code="welcome")
    assert_envelope(active(internal_client), status=200)
    services.template_version_create(
        template=template_get(code="welcome"),
        language="en",
        content={"subject": "v2 {{ name }}", "text_body": "v2"},
        activate=True,
    )

    data = assert_envelope(active(internal_client), status=200)["data"]

    assert (data["version"], data["subject"]) == (2, "v2 {{ name }}")


def test_explicit_version_is_served_instead_of_the_active_one(internal_client):
    EmailTemplateFactory(code="welcome")
    services.template_version_create(
        template=template_get(code="welcome"),
        language="en",
        content={"subject": "v2", "text_body": "v2"},
        activate=True,
    )

    data = assert_envelope(active(internal_client, version=1), status=200)["data"]

    assert data["version"] == 1


@pytest.mark.parametrize(("code", "params"), [("nope", {}), ("welcome", {"version": 9}), ("Not A Code", {})])
def test_unknown_template_or_version_is_404(internal_client, code, params):
    EmailTemplateFactory(code="welcome")

    response = active(internal_client, code, **params)

    assert_envelope(response, status=404)


def test_malformed_language_is_400_naming_the_field(internal_client):
    EmailTemplateFactory(code="welcome")

    body = assert_envelope(active(internal_client, language="english-language-x"), status=400)

    assert "language" in body["data"]


def test_only_internal_keys_may_read_it(user_client):
    EmailTemplateFactory(code="welcome")

    assert active(user_client).status_code == 403


def test_a_version_number_beyond_any_stored_one_is_404_not_a_500(internal_client):
    EmailTemplateFactory(code="welcome")

    response = active(internal_client, version=2**40)

    assert_envelope(response, status=404, error="version_not_found")
