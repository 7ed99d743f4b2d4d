"""Versions: numbered per language, immutable, one active; activation and rollback."""

import pytest

from message_templates.models import TemplateVersion
from message_templates.tests.factories import EmailTemplateFactory, PushTemplateFactory
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db

VERSIONS = "/api/v1/templates/welcome/versions/"
SUBSTITUTE = "/api/v1/templates/substitute/"
VARIABLES = {"name": "Ada", "link": "https://example.com"}


def version_body(language="en", marker="v2", **extra) -> dict:
    return {"language": language, "subject": f"{marker} {{{{ name }}}}", "text_body": f"{marker} body", **extra}


def rendered_subject(client, language="en") -> str:
    response = client.post(
        SUBSTITUTE, {"template_code": "welcome", "language": language, "variables": VARIABLES}, format="json"
    )
    return assert_envelope(response, status=200)["data"]["subject"]


def active_numbers(language="en") -> list[int]:
    return list(TemplateVersion.objects.filter(language=language, is_active=True).values_list("version", flat=True))


def test_new_version_gets_the_next_number_and_is_not_active_by_default(internal_client):
    EmailTemplateFactory(code="welcome")

    data = assert_envelope(internal_client.post(VERSIONS, version_body(), format="json"), status=201)["data"]

    assert (data["version"], data["is_active"]) == (2, False)
    assert active_numbers() == [1]
    assert rendered_subject(internal_client).startswith("[en]")


def test_new_version_with_activate_becomes_the_one_used(internal_client):
    EmailTemplateFactory(code="welcome")
    rendered_subject(internal_client)  # cache the active version

    data = assert_envelope(internal_client.post(VERSIONS, version_body(activate=True), format="json"), status=201)[
        "data"
    ]

    assert data["is_active"] is True
    assert active_numbers() == [2]
    assert rendered_subject(internal_client) == "v2 Ada"


def test_numbers_are_per_language(internal_client):
    EmailTemplateFactory(code="welcome", languages=("en", "pt"))
    internal_client.post(VERSIONS, version_body("en"), format="json")
    internal_client.post(VERSIONS, version_body("en", marker="v3"), format="json")

    data = assert_envelope(internal_client.post(VERSIONS, version_body("pt"), format="json"), status=201)["data"]

    assert data["version"] == 2


def test_first_version_of_a_new_language_is_active_at_once(internal_client):
    EmailTemplateFactory(code="welcome")

    data = assert_envelope(internal_client.post(VERSIONS, version_body("es"), format="json"), status=201)["data"]

    assert (data["language"], data["version"], data["is_active"]) == ("es", 1, True)
    assert rendered_subject(internal_client, "es-MX") == "v2 Ada"


def test_new_version_records_its_variables(internal_client):
    EmailTemplateFactory(code="welcome")

    body = version_body(subject="{{ greeting }} {{name}}", html_body="<b>{{ name }}</b> {{ footer }}")
    data = assert_envelope(internal_client.post(VERSIONS, body, format="json"), status=201)["data"]

    assert data["variables"] == ["greeting", "name", "footer"]


def test_new_version_with_a_malformed_placeholder_is_refused_naming_the_field(internal_client):
    EmailTemplateFactory(code="welcome")

    response = internal_client.post(VERSIONS, version_body(html_body="<p>{{ name </p>"), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert list(body["data"]) == ["html_body"]
    assert "unclosed placeholder" in body["data"]["html_body"][0]
    assert TemplateVersion.objects.count() == 1


def test_new_push_version_with_email_fields_is_refused(internal_client):
    PushTemplateFactory(code="welcome")

    response = internal_client.post(VERSIONS, version_body(), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert {"subject", "text_body", "title", "body"} <= set(body["data"])


def test_new_version_without_language_is_refused(internal_client):
    EmailTemplateFactory(code="welcome")
    body = version_body()
    del body["language"]

    response = internal_client.post(VERSIONS, body, format="json")

    assert "language" in assert_envelope(response, status=400, error="validation_error")["data"]


def test_new_version_of_an_unknown_template_is_404(internal_client):
    assert_envelope(
        internal_client.post(VERSIONS, version_body(), format="json"), status=404, error="template_not_found"
    )


def test_new_version_with_a_user_token_is_403(user_client):
    EmailTemplateFactory(code="welcome")

    assert_envelope(user_client.post(VERSIONS, version_body(), format="json"), status=403, error="permission_denied")


def test_history_lists_versions_newest_first_per_language(reader_client, internal_client):
    EmailTemplateFactory(code="welcome", languages=("en", "pt"))
    internal_client.post(VERSIONS, version_body("en"), format="json")

    body = assert_envelope(reader_client.get(VERSIONS), status=200)

    assert [(v["language"], v["version"]) for v in body["data"]] == [("en", 2), ("en", 1), ("pt", 1)]
    assert body["meta"]["total"] == 3


def test_history_filtered_by_language(reader_client):
    EmailTemplateFactory(code="welcome", languages=("en", "pt"))

    body = assert_envelope(reader_client.get(VERSIONS, {"language": "PT"}), status=200)

    assert [v["language"] for v in body["data"]] == ["pt"]


def test_versions_cannot_be_edited_over_the_api(internal_client):
    EmailTemplateFactory(code="welcome")

    for method in (internal_client.put, internal_client.patch):
        response = method(f"{VERSIONS}1/", {"subject": "changed"}, format="json")
        assert response.status_code in (404, 405)
    assert_envelope(internal_client.patch(VERSIONS, {"subject": "x"}, format="json"), status=405)
    assert TemplateVersion.objects.get().subject == "[en] Welcome, {{ name }}"


def test_activate_switches_the_active_version(internal_client):
    EmailTemplateFactory(code="welcome")
    internal_client.post(VERSIONS, version_body(), format="json")
    rendered_subject(internal_client)

    response = internal_client.post(f"{VERSIONS}2/activate/")

    data = assert_envelope(response, status=200)["data"]
    assert (data["version"], data["is_active"], data["previous_active_version"]) == (2, True, 1)
    assert active_numbers() == [2]
    assert rendered_subject(internal_client) == "v2 Ada"


def test_rollback_is_activating_an_earlier_version(internal_client):
    EmailTemplateFactory(code="welcome")
    internal_client.post(VERSIONS, version_body(activate=True), format="json")
    assert rendered_subject(internal_client) == "v2 Ada"

    response = internal_client.post(f"{VERSIONS}1/activate/")

    assert assert_envelope(response, status=200)["data"]["previous_active_version"] == 2
    assert active_numbers() == [1]
    assert rendered_subject(internal_client) == "[en] Welcome, Ada"


def test_activate_in_a_language_given_in_the_query(internal_client):
    EmailTemplateFactory(code="welcome", languages=("en", "pt"))
    internal_client.post(VERSIONS, version_body("pt"), format="json")

    assert_envelope(internal_client.post(f"{VERSIONS}2/activate/?language=pt"), status=200)

    assert active_numbers("pt") == [2]
    assert active_numbers("en") == [1]


def test_activate_in_a_language_given_in_the_body(internal_client):
    EmailTemplateFactory(code="welcome", languages=("en", "pt"))
    internal_client.post(VERSIONS, version_body("pt"), format="json")

    assert_envelope(internal_client.post(f"{VERSIONS}2/activate/", {"language": "pt"}, format="json"), status=200)

    assert active_numbers("pt") == [2]


def test_activating_the_active_version_changes_nothing(internal_client):
    EmailTemplateFactory(code="welcome")

    data = assert_envelope(internal_client.post(f"{VERSIONS}1/activate/"), status=200)["data"]

    assert (data["version"], data["previous_active_version"]) == (1, 1)
    assert active_numbers() == [1]


def test_activate_an_unknown_version_is_404(internal_client):
    EmailTemplateFactory(code="welcome")

    assert_envelope(internal_client.post(f"{VERSIONS}7/activate/"), status=404, error="version_not_found")
    assert active_numbers() == [1]


def test_activate_in_a_language_without_versions_is_404(internal_client):
    EmailTemplateFactory(code="welcome")

    assert_envelope(internal_client.post(f"{VERSIONS}1/activate/?language=de"), status=404, error="version_not_found")


def test_activate_with_a_malformed_language_is_400(internal_client):
    EmailTemplateFactory(code="welcome")

    body = assert_envelope(internal_client.post(f"{VERSIONS}1/activate/?language=!!"), status=400)

    assert "language" in body["data"]


def test_activate_with_a_user_token_is_403(user_client):
    EmailTemplateFactory(code="welcome")

    assert_envelope(user_client.post(f"{VERSIONS}1/activate/"), status=403, error="permission_denied")


def test_activate_with_a_templates_write_key_succeeds(api_client, writer_key):
    EmailTemplateFactory(code="welcome")
    api_client.credentials(HTTP_X_API_KEY=writer_key)

    assert_envelope(api_client.post(f"{VERSIONS}1/activate/"), status=200)
