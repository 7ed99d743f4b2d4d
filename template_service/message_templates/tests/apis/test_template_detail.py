"""GET and DELETE /api/v1/templates/{code}/."""

import pytest

from message_templates import services
from message_templates.models import Template
from message_templates.tests.factories import EmailTemplateFactory
from notification_common.testing import assert_envelope

pytestmark = pytest.mark.django_db


def new_version(template, language="en", *, activate=False, marker="v2"):
    return services.template_version_create(
        template=template,
        language=language,
        content={"subject": f"{marker} {{{{ name }}}}", "text_body": marker},
        activate=activate,
    )


def test_detail_shows_the_active_version_in_the_default_language(user_client):
    template = EmailTemplateFactory(code="welcome", languages=("en", "pt"))
    new_version(template, activate=True)

    data = assert_envelope(user_client.get("/api/v1/templates/welcome/"), status=200)["data"]

    assert data["code"] == "welcome"
    assert (data["requested_language"], data["language"]) == ("en", "en")
    assert data["version"]["version"] == 2
    assert data["version"]["subject"] == "v2 {{ name }}"
    assert data["languages"] == {"en": 2, "pt": 1}


def test_detail_falls_back_from_region_to_base_language(user_client):
    EmailTemplateFactory(code="welcome", languages=("en", "pt"))

    data = assert_envelope(user_client.get("/api/v1/templates/welcome/", {"language": "pt-BR"}), status=200)["data"]

    assert (data["requested_language"], data["language"]) == ("pt-BR", "pt")
    assert data["version"]["subject"].startswith("[pt]")


def test_detail_shows_an_older_version_when_asked(user_client):
    template = EmailTemplateFactory(code="welcome")
    new_version(template, activate=True)

    data = assert_envelope(user_client.get("/api/v1/templates/welcome/", {"version": 1}), status=200)["data"]

    assert data["version"]["version"] == 1
    assert data["version"]["is_active"] is False


def test_detail_of_a_missing_version_is_404_version_not_found(user_client):
    EmailTemplateFactory(code="welcome")

    response = user_client.get("/api/v1/templates/welcome/", {"version": 9})

    assert_envelope(response, status=404, error="version_not_found")


def test_detail_of_an_unknown_code_is_404_template_not_found(user_client):
    assert_envelope(user_client.get("/api/v1/templates/nope/"), status=404, error="template_not_found")


@pytest.mark.parametrize(("param", "value"), [("version", "0"), ("version", "two"), ("language", "??")])
def test_detail_with_bad_query_is_refused_naming_it(user_client, param, value):
    EmailTemplateFactory(code="welcome")

    body = assert_envelope(user_client.get("/api/v1/templates/welcome/", {param: value}), status=400)

    assert param in body["data"]


def test_delete_is_soft_and_hides_the_template(internal_client):
    EmailTemplateFactory(code="welcome")

    body = assert_envelope(internal_client.delete("/api/v1/templates/welcome/"), status=200)

    assert body["data"]["deleted_at"]
    template = Template.objects.get(code="welcome")
    assert template.is_deleted and template.deleted_at is not None
    assert template.versions.count() == 1
    assert_envelope(internal_client.get("/api/v1/templates/welcome/"), status=404, error="template_not_found")


def test_delete_twice_is_404(internal_client):
    EmailTemplateFactory(code="welcome")
    internal_client.delete("/api/v1/templates/welcome/")

    assert_envelope(internal_client.delete("/api/v1/templates/welcome/"), status=404, error="template_not_found")


def test_delete_with_a_user_token_is_403(user_client):
    EmailTemplateFactory(code="welcome")

    assert_envelope(user_client.delete("/api/v1/templates/welcome/"), status=403, error="permission_denied")
    assert not Template.objects.get(code="welcome").is_deleted


def test_detail_without_credentials_is_401(api_client):
    EmailTemplateFactory(code="welcome")

    assert_envelope(api_client.get("/api/v1/templates/welcome/"), status=401, error="not_authenticated")
