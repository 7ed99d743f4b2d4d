"""GET and DELETE /api/v1/templates/{code}/."""

import pytest

from message_templates import services
from message_templates.models import Template
from message_templates.tests.factories import EmailTemplateFactory
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db


def new_version(template, language="en", *, activate=False, marker="v2"):
    return services.template_version_create(
        template=template,
        language=language,
        content={"subject": f"{marker} {{{{ name }}}}", "text_body": marker},
        activate=activate,
    )


def test_detail_shows_the_active_version_in_the_default_language(reader_client):
    template = EmailTemplateFactory(code="welcome", languages=("en", "pt"))
    new_version(template, activate=True)

    data = assert_envelope(reader_client.get("/api/v1/templates/welcome/"), status=200)["data"]

    assert data["code"] == "welcome"
    assert (data["requested_language"], data["language"]) == ("en", "en")
    assert data["version"]["version"] == 2
    assert data["version"]["subject"] == "v2 {{ name }}"
    assert data["languages"] == {"en": 2, "pt": 1}


def test_detail_falls_back_from_region_to_base_language(reader_client):
    EmailTemplateFactory(code="welcome", languages=("en", "pt"))

    data = assert_envelope(reader_client.get("/api/v1/templates/welcome/", {"language": "pt-BR"}), status=200)["data"]

    assert (data["requested_language"], data["language"]) == ("pt-BR", "pt")
    assert data["version"]["subject"].startswith("[pt]")


def test_detail_shows_an_older_version_when_asked(reader_client):
    template = EmailTemplateFactory(code="welcome")
    new_version(template, activate=True)

    data = assert_envelope(reader_client.get("/api/v1/templates/welcome/", {"version": 1}), status=200)["data"]

    assert data["version"]["version"] == 1
    assert data["version"]["is_active"] is False


def test_detail_of_a_missing_version_is_404_version_not_found(reader_client):
    EmailTemplateFactory(code="welcome")

    response = reader_client.get("/api/v1/templates/welcome/", {"version": 9})

    assert_envelope(response, status=404, error="version_not_found")


def test_detail_of_an_unknown_code_is_404_template_not_found(reader_client):
    assert_envelope(reader_client.get("/api/v1/templates/nope/"), status=404, error="template_not_found")


@pytest.mark.parametrize(("param", "value"), [("version", "0"), ("version", "two"), ("language", "??")])
def test_detail_with_bad_query_is_refused_naming_it(reader_client, param, value):
    EmailTemplateFactory(code="welcome")

    body = assert_envelope(reader_client.get("/api/v1/templates/welcome/", {param: value}), status=400)

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


def test_delete_with_a_read_only_key_is_403(reader_client):
    EmailTemplateFactory(code="welcome")

    assert_envelope(reader_client.delete("/api/v1/templates/welcome/"), status=403, error="permission_denied")
    assert not Template.objects.get(code="welcome").is_deleted


def test_detail_without_credentials_is_401(api_client):
    EmailTemplateFactory(code="welcome")

    assert_envelope(api_client.get("/api/v1/templates/welcome/"), status=401, error="not_authenticated")


def test_reads_with_a_user_token_are_403(user_client):
    """Template texts are the platform's: end users neither read nor render them."""
    EmailTemplateFactory(code="welcome")

    assert_envelope(user_client.get("/api/v1/templates/welcome/"), status=403, error="permission_denied")
    assert_envelope(user_client.get("/api/v1/templates/"), status=403, error="permission_denied")
    assert_envelope(user_client.get("/api/v1/templates/welcome/versions/"), status=403, error="permission_denied")


def test_a_sending_key_cannot_read_templates(api_client, sender_key):
    EmailTemplateFactory(code="welcome")
    api_client.credentials(HTTP_X_API_KEY=sender_key)

    assert_envelope(api_client.get("/api/v1/templates/welcome/"), status=403, error="permission_denied")


def test_a_template_is_not_user_triggerable_unless_marked(reader_client):
    EmailTemplateFactory(code="welcome")

    data = assert_envelope(reader_client.get("/api/v1/templates/welcome/"), status=200)["data"]

    assert data["user_triggerable"] is False


def test_patch_marks_a_template_user_triggerable(internal_client):
    EmailTemplateFactory(code="welcome", description="old")

    response = internal_client.patch("/api/v1/templates/welcome/", {"user_triggerable": True}, format="json")

    data = assert_envelope(response, status=200)["data"]
    assert (data["user_triggerable"], data["description"]) == (True, "old")
    assert Template.objects.get(code="welcome").user_triggerable is True


def test_patch_changes_the_description(internal_client):
    EmailTemplateFactory(code="welcome")

    response = internal_client.patch("/api/v1/templates/welcome/", {"description": "Sent on sign-up"}, format="json")

    assert assert_envelope(response, status=200)["data"]["description"] == "Sent on sign-up"


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "non_field_errors"), ({"user_triggerable": "maybe"}, "user_triggerable"), ({"description": 3.5}, None)],
)
def test_patch_with_bad_input_is_400_naming_the_field(internal_client, body, field):
    EmailTemplateFactory(code="welcome")

    response = internal_client.patch("/api/v1/templates/welcome/", body, format="json")

    if field is None:  # DRF accepts a number for a CharField (as its text)
        assert_envelope(response, status=200)
        return
    assert field in assert_envelope(response, status=400, error="validation_error")["data"]


def test_patch_needs_a_writing_key(reader_client):
    EmailTemplateFactory(code="welcome")

    response = reader_client.patch("/api/v1/templates/welcome/", {"user_triggerable": True}, format="json")

    assert_envelope(response, status=403, error="permission_denied")
    assert Template.objects.get(code="welcome").user_triggerable is False


def test_patch_of_an_unknown_template_is_404(internal_client):
    response = internal_client.patch("/api/v1/templates/nope/", {"user_triggerable": True}, format="json")

    assert_envelope(response, status=404, error="template_not_found")
