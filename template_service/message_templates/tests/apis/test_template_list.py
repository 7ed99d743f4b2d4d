"""GET /api/v1/templates/: paginated, filtered by channel and language, searched by code."""

import pytest

from message_templates import services
from message_templates.tests.factories import EmailTemplateFactory, PushTemplateFactory
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"


def codes(response) -> list[str]:
    return [item["code"] for item in assert_envelope(response, status=200)["data"]]


def test_meta_is_correct_on_the_last_page(reader_client):
    for n in range(5):
        EmailTemplateFactory(code=f"t{n}")

    body = assert_envelope(reader_client.get(URL, {"limit": 2, "page": 3}), status=200)

    assert [item["code"] for item in body["data"]] == ["t4"]
    assert body["meta"] == {
        "total": 5,
        "limit": 2,
        "page": 3,
        "total_pages": 3,
        "has_next": False,
        "has_previous": True,
    }


def test_page_past_the_end_is_empty_with_meta(reader_client):
    EmailTemplateFactory(code="only")

    body = assert_envelope(reader_client.get(URL, {"page": 4}), status=200)

    assert body["data"] == []
    assert body["meta"]["total"] == 1
    assert body["meta"]["has_next"] is False


def test_list_shows_active_version_per_language(reader_client):
    template = EmailTemplateFactory(code="welcome", languages=("en", "pt"))
    services.template_version_create(template=template, language="pt", content=_email(), activate=True)

    item = assert_envelope(reader_client.get(URL), status=200)["data"][0]

    assert item["languages"] == {"en": 1, "pt": 2}


def test_filter_by_channel(reader_client):
    EmailTemplateFactory(code="mail")
    PushTemplateFactory(code="push")

    assert codes(reader_client.get(URL, {"channel": "push"})) == ["push"]


def test_filter_by_language(reader_client):
    EmailTemplateFactory(code="english", languages=("en",))
    EmailTemplateFactory(code="both", languages=("en", "pt-BR"))

    assert codes(reader_client.get(URL, {"language": "pt-br"})) == ["both"]


def test_search_by_code(reader_client):
    EmailTemplateFactory(code="order_update")
    EmailTemplateFactory(code="welcome")

    assert codes(reader_client.get(URL, {"search": "ORDER"})) == ["order_update"]


def test_deleted_templates_are_not_listed(reader_client):
    services.template_delete(template=EmailTemplateFactory(code="gone"))
    EmailTemplateFactory(code="kept")

    assert codes(reader_client.get(URL)) == ["kept"]


@pytest.mark.parametrize(
    ("param", "value"), [("channel", "sms"), ("language", "english!"), ("limit", "0"), ("page", "x")]
)
def test_bad_filter_is_refused_naming_it(reader_client, param, value):
    body = assert_envelope(reader_client.get(URL, {param: value}), status=400, error="validation_error")

    assert param in body["data"]


def test_list_without_credentials_is_401(api_client):
    assert_envelope(api_client.get(URL), status=401, error="not_authenticated")


def test_list_with_a_key_without_a_template_scope_is_403(api_client, sender_key):
    api_client.credentials(HTTP_X_API_KEY=sender_key)

    assert_envelope(api_client.get(URL), status=403, error="permission_denied")


@pytest.mark.parametrize("fixture", ["reader_key", "writer_key", "internal_key"])
def test_list_with_any_template_scope_succeeds(api_client, request, fixture):
    api_client.credentials(HTTP_X_API_KEY=request.getfixturevalue(fixture))

    assert_envelope(api_client.get(URL), status=200)


def _email() -> dict:
    return {"subject": "v2 {{ name }}", "text_body": "v2"}
