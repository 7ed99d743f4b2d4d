"""POST /api/v1/templates/substitute/: the contract the email and push workers use."""

import pytest

from message_templates import services
from message_templates.tests.factories import EmailTemplateFactory, PushTemplateFactory, email_version
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/substitute/"
VARIABLES = {"name": "Ada", "link": "https://example.com/start"}


def substitute(client, **body):
    return client.post(URL, {"template_code": "welcome", "variables": VARIABLES, **body}, format="json")


def test_email_template_renders_every_field_with_version_and_language(internal_client):
    EmailTemplateFactory(code="welcome")

    data = assert_envelope(substitute(internal_client, language="en"), status=200)["data"]

    assert data == {
        "template_code": "welcome",
        "channel": "email",
        "language": "en",
        "requested_language": "en",
        "version": 1,
        "subject": "[en] Welcome, Ada",
        "text_body": "[en] Hi Ada, open https://example.com/start",
        "html_body": "<p>[en] Hi Ada, <a href='https://example.com/start'>open</a></p>",
    }


def test_push_template_renders_title_body_image_and_data_strings(internal_client):
    PushTemplateFactory(code="shipped")

    response = internal_client.post(
        URL, {"template_code": "shipped", "variables": {"name": "Ada", "order_id": 1042}}, format="json"
    )

    data = assert_envelope(response, status=200)["data"]
    assert data["channel"] == "push"
    assert data["title"] == "[en] Hello Ada"
    assert data["body"] == "[en] Your order 1042 shipped"
    assert data["image_url"] == "https://cdn.example.com/1042.png"
    assert data["data"] == {"order_id": "1042", "screen": "orders"}
    assert "subject" not in data


def test_email_without_html_body_answers_null_html_body(internal_client):
    services.template_create(code="welcome", channel="email", versions=[email_version("en", html_body="")])

    assert assert_envelope(substitute(internal_client), status=200)["data"]["html_body"] is None


def test_language_omitted_uses_the_default_language(internal_client):
    EmailTemplateFactory(code="welcome", languages=("pt", "en"))

    data = assert_envelope(substitute(internal_client), status=200)["data"]

    assert (data["requested_language"], data["language"]) == ("pt", "pt")


def test_pt_br_falls_back_to_pt(internal_client):
    EmailTemplateFactory(code="welcome", languages=("en", "pt"))

    data = assert_envelope(substitute(internal_client, language="pt-BR"), status=200)["data"]

    assert (data["requested_language"], data["language"]) == ("pt-BR", "pt")
    assert data["subject"] == "[pt] Welcome, Ada"


def test_pt_br_is_used_when_it_exists(internal_client):
    EmailTemplateFactory(code="welcome", languages=("en", "pt", "pt-BR"))

    data = assert_envelope(substitute(internal_client, language="pt-br"), status=200)["data"]

    assert data["language"] == "pt-BR"


def test_pt_without_pt_versions_falls_back_to_the_default(internal_client):
    EmailTemplateFactory(code="welcome", languages=("en", "es"))

    data = assert_envelope(substitute(internal_client, language="pt"), status=200)["data"]

    assert (data["requested_language"], data["language"]) == ("pt", "en")


def test_unknown_language_falls_back_to_the_default(internal_client):
    EmailTemplateFactory(code="welcome", languages=("en", "pt"))

    data = assert_envelope(substitute(internal_client, language="de-AT"), status=200)["data"]

    assert (data["requested_language"], data["language"]) == ("de-AT", "en")


def test_explicit_version_is_rendered_instead_of_the_active_one(internal_client):
    template = EmailTemplateFactory(code="welcome")
    services.template_version_create(
        template=template, language="en", content={"subject": "v2 {{ name }}", "text_body": "v2"}, activate=True
    )

    data = assert_envelope(substitute(internal_client, version=1), status=200)["data"]

    assert (data["version"], data["subject"]) == (1, "[en] Welcome, Ada")


def test_explicit_version_that_does_not_exist_is_404(internal_client):
    EmailTemplateFactory(code="welcome")

    body = assert_envelope(substitute(internal_client, version=5), status=404, error="version_not_found")

    assert body["data"]["version"] == 5


def test_missing_variables_are_all_named_with_422(internal_client):
    EmailTemplateFactory(code="welcome")

    body = assert_envelope(
        substitute(internal_client, variables={"unrelated": "x"}), status=422, error="missing_variables"
    )

    assert body["data"] == {"missing": ["name", "link"]}
    assert "name" in body["message"] and "link" in body["message"]


def test_extra_variables_are_ignored(internal_client):
    EmailTemplateFactory(code="welcome")

    response = substitute(internal_client, variables={**VARIABLES, "extra": "ignored"})

    assert "ignored" not in str(assert_envelope(response, status=200)["data"])


def test_script_in_a_variable_is_escaped_in_html_and_kept_as_text_elsewhere(internal_client):
    EmailTemplateFactory(code="welcome")

    data = assert_envelope(
        substitute(internal_client, variables={**VARIABLES, "name": "<script>alert(1)</script>"}), status=200
    )["data"]

    assert "<script>" not in data["html_body"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in data["html_body"]
    assert data["text_body"].startswith("[en] Hi <script>alert(1)</script>")


@pytest.mark.parametrize("value", ["{{ link }}", "{{link}}", "{% debug %}", "{% load os %}{{ settings.SECRET_KEY }}"])
def test_placeholder_or_tag_in_a_variable_is_rendered_as_inert_text(internal_client, value):
    EmailTemplateFactory(code="welcome")

    data = assert_envelope(substitute(internal_client, variables={**VARIABLES, "name": value}), status=200)["data"]

    assert data["subject"] == f"[en] Welcome, {value}"
    assert "https://example.com/start" not in data["subject"]


def test_line_break_in_a_variable_cannot_add_an_email_header(internal_client):
    EmailTemplateFactory(code="welcome")

    data = assert_envelope(
        substitute(internal_client, variables={**VARIABLES, "name": "Ada\r\nBcc: x@example.com"}), status=200
    )["data"]

    assert data["subject"] == "[en] Welcome, Ada Bcc: x@example.com"


def test_non_string_variables_are_stringified(internal_client):
    EmailTemplateFactory(code="welcome")

    data = assert_envelope(substitute(internal_client, variables={"name": 7, "link": {"a": [1]}}), status=200)["data"]

    assert data["text_body"] == '[en] Hi 7, open {"a": [1]}'


def test_unknown_template_is_404_template_not_found(internal_client):
    body = assert_envelope(substitute(internal_client, template_code="nope"), status=404, error="template_not_found")

    assert body["data"] == {"template_code": "nope"}


def test_code_that_cannot_exist_is_404_template_not_found(internal_client):
    assert_envelope(substitute(internal_client, template_code="has space/ü"), status=404, error="template_not_found")


def test_deleted_template_is_404(internal_client):
    services.template_delete(template=EmailTemplateFactory(code="welcome"))

    assert_envelope(substitute(internal_client), status=404, error="template_not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"template_code": None}, "template_code"),
        ({"template_code": ""}, "template_code"),
        ({"variables": ["name"]}, "variables"),
        ({"variables": "name=Ada"}, "variables"),
        ({"version": 0}, "version"),
        ({"version": "latest"}, "version"),
        ({"language": "not a language"}, "language"),
        ({"language": 5}, "language"),
    ],
)
def test_bad_input_is_400_naming_the_field(internal_client, body, field):
    EmailTemplateFactory(code="welcome")

    response = substitute(internal_client, **body)

    assert field in assert_envelope(response, status=400, error="validation_error")["data"]


def test_substitute_route_is_not_shadowed_by_a_template_code(internal_client):
    EmailTemplateFactory(code="welcome")

    assert_envelope(internal_client.get(URL), status=405, error="method_not_allowed")
    assert_envelope(substitute(internal_client), status=200)


def test_substitute_with_a_reading_key_succeeds(reader_client):
    EmailTemplateFactory(code="welcome")

    assert_envelope(substitute(reader_client), status=200)


def test_substitute_with_a_user_token_is_403(user_client):
    """A user token could otherwise render any template with any variables."""
    EmailTemplateFactory(code="welcome")

    assert_envelope(substitute(user_client), status=403, error="permission_denied")


def test_substitute_with_a_sender_key_is_403(api_client, sender_key):
    EmailTemplateFactory(code="welcome")
    api_client.credentials(HTTP_X_API_KEY=sender_key)

    assert_envelope(substitute(api_client), status=403, error="permission_denied")


def test_substitute_without_credentials_is_401(api_client):
    EmailTemplateFactory(code="welcome")

    assert_envelope(substitute(api_client), status=401, error="not_authenticated")


def test_substitute_with_an_expired_user_token_is_401(api_client, user_token):
    from datetime import timedelta

    EmailTemplateFactory(code="welcome")
    token = user_token("5b0c3a52-3c7e-4f7e-9a59-8c1f7d0e2a11", lifetime=timedelta(seconds=-5))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert_envelope(substitute(api_client), status=401)
