"""POST /api/v1/templates/: a template with version 1 in one or more languages."""

import pytest

from message_templates import services
from message_templates.models import Template, TemplateVersion
from message_templates.tests.factories import EmailTemplateFactory, email_version, push_version
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"


def email_body(**overrides) -> dict:
    return {
        "code": "welcome",
        "channel": "email",
        "description": "After registration",
        "versions": [email_version("en"), email_version("pt")],
        **overrides,
    }


def test_create_stores_version_one_of_each_language_active_with_its_variables(internal_client):
    response = internal_client.post(URL, email_body(), format="json")

    data = assert_envelope(response, status=201)["data"]
    assert data["code"] == "welcome"
    assert data["default_language"] == "en"
    assert data["languages"] == {"en": 1, "pt": 1}
    assert [(v["language"], v["version"], v["is_active"]) for v in data["versions"]] == [
        ("en", 1, True),
        ("pt", 1, True),
    ]
    assert data["versions"][0]["variables"] == ["name", "link"]
    assert "title" not in data["versions"][0]


def test_create_push_template_keeps_data_as_a_string_map(internal_client):
    response = internal_client.post(
        URL, {"code": "shipped", "channel": "push", "versions": [push_version("en")]}, format="json"
    )

    version = assert_envelope(response, status=201)["data"]["versions"][0]
    assert version["data"] == {"order_id": "{{ order_id }}", "screen": "orders"}
    assert version["variables"] == ["name", "order_id"]
    assert "subject" not in version


def test_create_normalises_language_case(internal_client):
    response = internal_client.post(
        URL, email_body(versions=[email_version("PT_br")], default_language="pt-br"), format="json"
    )

    data = assert_envelope(response, status=201)["data"]
    assert data["default_language"] == "pt-BR"
    assert data["languages"] == {"pt-BR": 1}


def test_default_language_must_have_a_version(internal_client):
    response = internal_client.post(URL, email_body(default_language="es"), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert "default_language" in body["data"]


def test_duplicate_code_is_refused_with_409(internal_client):
    EmailTemplateFactory(code="welcome")

    response = internal_client.post(URL, email_body(), format="json")

    body = assert_envelope(response, status=409, error="template_exists")
    assert "code" in body["data"]
    assert Template.objects.count() == 1


def test_code_of_a_deleted_template_can_be_used_again(internal_client):
    services.template_delete(template=EmailTemplateFactory(code="welcome"))

    response = internal_client.post(URL, email_body(), format="json")

    assert_envelope(response, status=201)
    assert Template.objects.filter(code="welcome").count() == 2


@pytest.mark.parametrize(
    "code", ["Welcome", "with space", "-dash-first", "ünïcode", "x" * 101, "", "substitute", "stats"]
)
def test_invalid_or_reserved_code_is_refused_naming_code(internal_client, code):
    response = internal_client.post(URL, email_body(code=code), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert list(body["data"]) == ["code"]


def test_unknown_channel_is_refused_naming_channel(internal_client):
    body = assert_envelope(
        internal_client.post(URL, email_body(channel="sms"), format="json"), status=400, error="validation_error"
    )

    assert list(body["data"]) == ["channel"]


def test_missing_versions_are_refused(internal_client):
    body = assert_envelope(
        internal_client.post(URL, email_body(versions=[]), format="json"), status=400, error="validation_error"
    )

    assert "versions" in body["data"]


def test_same_language_twice_is_refused(internal_client):
    response = internal_client.post(URL, email_body(versions=[email_version("pt"), email_version("PT")]), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert body["data"]["versions"]["1"]["language"]


def test_malformed_language_is_refused_naming_the_version_field(internal_client):
    response = internal_client.post(URL, email_body(versions=[email_version("portuguese-brazil")]), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert "language" in body["data"]["versions"]["0"]


@pytest.mark.parametrize("field", ["subject", "text_body"])
def test_email_version_without_a_required_field_is_refused_naming_it(internal_client, field):
    response = internal_client.post(URL, email_body(versions=[email_version("en", **{field: " "})]), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert body["data"]["versions"]["0"] == {field: ["This field is required."]}


def test_email_version_with_push_fields_is_refused(internal_client):
    response = internal_client.post(URL, email_body(versions=[email_version("en", title="Hi")]), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert body["data"]["versions"]["0"] == {"title": ["Not used by email templates."]}


def test_subject_longer_than_500_characters_is_refused(internal_client):
    response = internal_client.post(URL, email_body(versions=[email_version("en", subject="x" * 501)]), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert "subject" in body["data"]["versions"]["0"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Welcome {{ name"),
        ("text_body", "Hi {{}}"),
        ("html_body", "<p>{{ user.email }}</p>"),
        ("html_body", "{% if x %}y{% endif %}"),
    ],
)
def test_malformed_placeholder_is_refused_at_save_naming_field_and_problem(internal_client, field, value):
    response = internal_client.post(URL, email_body(versions=[email_version("en", **{field: value})]), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert list(body["data"]["versions"]["0"]) == [field]
    assert "line 1" in body["data"]["versions"]["0"][field][0]
    assert not Template.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"body": ""}, "body"),
        ({"image_url": "ftp://cdn.example.com/x.png"}, "image_url"),
        ({"data": {"from": "x"}}, "data"),
        ({"data": {"google.c.a": "x"}}, "data"),
        ({"data": {"bad key!": "x"}}, "data"),
        ({"data": {"link": "{{ link"}}, "data"),
        ({"subject": "Hi"}, "subject"),
    ],
)
def test_invalid_push_version_field_is_refused_naming_it(internal_client, overrides, field):
    response = internal_client.post(
        URL, {"code": "p", "channel": "push", "versions": [push_version("en", **overrides)]}, format="json"
    )

    body = assert_envelope(response, status=400, error="validation_error")
    assert field in body["data"]["versions"]["0"]


def test_push_data_that_is_not_an_object_is_refused(internal_client):
    response = internal_client.post(
        URL, {"code": "p", "channel": "push", "versions": [push_version("en", data=["x"])]}, format="json"
    )

    body = assert_envelope(response, status=400, error="validation_error")
    assert "data" in body["data"]["versions"]["0"]


def test_body_that_is_not_json_is_refused(internal_client):
    response = internal_client.post(URL, "{not json", content_type="application/json")

    assert_envelope(response, status=400, error="parse_error")


def test_create_without_credentials_is_401(api_client):
    assert_envelope(api_client.post(URL, email_body(), format="json"), status=401, error="not_authenticated")


def test_create_with_a_user_token_is_403(user_client):
    assert_envelope(user_client.post(URL, email_body(), format="json"), status=403, error="permission_denied")


def test_create_with_a_sender_key_is_403(api_client, sender_key):
    api_client.credentials(HTTP_X_API_KEY=sender_key)

    assert_envelope(api_client.post(URL, email_body(), format="json"), status=403, error="permission_denied")


def test_create_with_an_unknown_key_is_401(api_client):
    api_client.credentials(HTTP_X_API_KEY="not-a-key")

    assert_envelope(api_client.post(URL, email_body(), format="json"), status=401, error="authentication_failed")


def test_create_with_a_templates_write_key_succeeds(api_client, writer_key):
    api_client.credentials(HTTP_X_API_KEY=writer_key)

    assert_envelope(api_client.post(URL, email_body(), format="json"), status=201)
    assert TemplateVersion.objects.count() == 2


def test_create_can_mark_a_template_user_triggerable(internal_client):
    response = internal_client.post(URL, email_body(user_triggerable=True), format="json")

    assert assert_envelope(response, status=201)["data"]["user_triggerable"] is True
    assert Template.objects.get(code="welcome").user_triggerable is True


def test_a_created_template_is_not_user_triggerable_by_default(internal_client):
    response = internal_client.post(URL, email_body(), format="json")

    assert assert_envelope(response, status=201)["data"]["user_triggerable"] is False


def test_user_triggerable_must_be_a_boolean(internal_client):
    response = internal_client.post(URL, email_body(user_triggerable="sure"), format="json")

    assert "user_triggerable" in assert_envelope(response, status=400, error="validation_error")["data"]
