"""Template categories: listed, set on create and PATCH, required ones marked (issue 15)."""

import pytest

from message_templates.models import Category, Template
from message_templates.tests.factories import EmailTemplateFactory, email_version
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db


def test_categories_are_listed_with_the_required_ones_marked(reader_client):
    response = reader_client.get("/api/v1/categories/")

    data = assert_envelope(response, status=200)["data"]
    required = {category["code"]: category["required"] for category in data}
    assert required == {"marketing": False, "product": False, "security": True, "transactional": True}
    assert response.json()["meta"]["total"] == 4


def test_listing_categories_needs_credentials(api_client):
    assert_envelope(api_client.get("/api/v1/categories/"), status=401, success=False)


def test_a_template_is_transactional_unless_told_otherwise(internal_client):
    response = internal_client.post(
        "/api/v1/templates/", {"code": "receipt", "channel": "email", "versions": [email_version()]}, format="json"
    )

    data = assert_envelope(response, status=201)["data"]
    assert (data["category"], data["category_required"]) == ("transactional", True)


def test_a_template_created_as_marketing_is_not_required(internal_client):
    response = internal_client.post(
        "/api/v1/templates/",
        {"code": "newsletter", "channel": "email", "category": "marketing", "versions": [email_version()]},
        format="json",
    )

    data = assert_envelope(response, status=201)["data"]
    assert (data["category"], data["category_required"]) == ("marketing", False)
    assert Template.objects.get(code="newsletter").category_id == "marketing"


@pytest.mark.parametrize("category", ["newsletters", "Marketing!", "", 7, None])
def test_create_with_an_unknown_or_malformed_category_is_400_naming_it(internal_client, category):
    response = internal_client.post(
        "/api/v1/templates/",
        {"code": "newsletter", "channel": "email", "category": category, "versions": [email_version()]},
        format="json",
    )

    body = assert_envelope(response, status=400, success=False)
    assert body["error"] == "validation_error"
    assert "category" in body["data"]
    assert not Template.objects.filter(code="newsletter").exists()


def test_patch_moves_a_template_to_another_category(internal_client):
    EmailTemplateFactory(code="digest")

    response = internal_client.patch("/api/v1/templates/digest/", {"category": "product"}, format="json")

    data = assert_envelope(response, status=200)["data"]
    assert (data["category"], data["category_required"]) == ("product", False)
    detail = assert_envelope(internal_client.get("/api/v1/templates/digest/"), status=200)["data"]
    assert detail["category"] == "product"


@pytest.mark.parametrize("category", ["no_such_category", "bad slug", ["marketing"]])
def test_patch_with_a_bad_category_is_400_and_changes_nothing(internal_client, category):
    EmailTemplateFactory(code="digest")

    response = internal_client.patch("/api/v1/templates/digest/", {"category": category}, format="json")

    body = assert_envelope(response, status=400, success=False)
    assert "category" in body["data"]
    assert Template.objects.get(code="digest").category_id == "transactional"


def test_a_category_in_use_cannot_be_deleted():
    from django.db.models import ProtectedError

    EmailTemplateFactory(code="digest")

    with pytest.raises(ProtectedError):
        Category.objects.get(code="transactional").delete()
