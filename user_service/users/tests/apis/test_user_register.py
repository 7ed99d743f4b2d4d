"""POST /api/v1/users/: public registration."""

import pytest

from notification_devtools.testing import assert_envelope
from users.models import Device, User
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/users/"


def registration(**overrides) -> dict:
    body = {"name": "Ada Lovelace", "email": "ada@example.com", "password": PASSWORD}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def test_registration_answers_201_with_the_user_and_default_preferences(api_client):
    response = api_client.post(URL, registration(), format="json")

    body = assert_envelope(response, status=201)
    data = body["data"]
    assert set(data) == {"id", "name", "email", "is_active", "preferences", "devices", "created_at"}
    assert data["email"] == "ada@example.com"
    assert data["preferences"] == {
        "email": True,
        "push": True,
        "timezone": "UTC",
        "quiet_hours": None,
        "categories": {},
    }
    assert data["devices"] == []
    assert data["is_active"] is True


def test_registration_never_returns_or_stores_the_password(api_client):
    response = api_client.post(URL, registration(), format="json")

    assert PASSWORD not in response.content.decode()
    user = User.objects.get(email="ada@example.com")
    assert user.password != PASSWORD
    assert user.check_password(PASSWORD)


def test_registration_keeps_independent_preferences(api_client):
    response = api_client.post(URL, registration(preferences={"email": False, "push": True}), format="json")

    preferences = assert_envelope(response, status=201)["data"]["preferences"]
    assert preferences == {"email": False, "push": True, "timezone": "UTC", "quiet_hours": None, "categories": {}}


def test_registration_with_push_token_creates_an_active_device(api_client):
    response = api_client.post(URL, registration(push_token="tok-1", platform="ios"), format="json")

    devices = assert_envelope(response, status=201)["data"]["devices"]
    assert [(d["token"], d["platform"], d["active"]) for d in devices] == [("tok-1", "ios", True)]


def test_registration_push_token_platform_defaults_to_android(api_client):
    api_client.post(URL, registration(push_token="tok-1"), format="json")

    assert Device.objects.get(token="tok-1").platform == "android"


def test_registration_stores_the_email_lower_cased(api_client):
    response = api_client.post(URL, registration(email="  Ada@Example.COM "), format="json")

    assert assert_envelope(response, status=201)["data"]["email"] == "ada@example.com"


def test_duplicate_email_answers_409_email_taken(api_client):
    UserFactory(email="ada@example.com")

    response = api_client.post(URL, registration(), format="json")

    body = assert_envelope(response, status=409, error="email_taken")
    assert "email" in body["data"]


def test_duplicate_email_in_other_case_answers_409_email_taken(api_client):
    UserFactory(email="ada@example.com")

    response = api_client.post(URL, registration(email="ADA@example.com"), format="json")

    assert_envelope(response, status=409, error="email_taken")


@pytest.mark.parametrize("field", ["name", "email", "password"])
def test_missing_required_field_is_named_in_a_400(api_client, field):
    response = api_client.post(URL, registration(**{field: ...}), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert field in body["data"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "x" * 151),
        ("email", "not-an-email"),
        ("push_token", "t" * 513),
        ("platform", "windows-phone"),
        ("preferences", "yes"),
    ],
)
def test_invalid_field_is_named_in_a_400(api_client, field, value):
    response = api_client.post(URL, registration(**{"push_token": "tok", field: value}), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert field in body["data"]


def test_invalid_preference_value_is_named_in_a_400(api_client):
    response = api_client.post(URL, registration(preferences={"email": "maybe"}), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert "email" in body["data"]["preferences"]


@pytest.mark.parametrize("password", ["short1", "password123", "12345678901", "ada@example.com"])
def test_weak_password_is_refused_by_djangos_validators(api_client, password):
    response = api_client.post(URL, registration(password=password), format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert body["data"]["password"]
    assert not User.objects.exists()


def test_malformed_json_answers_400_not_500(api_client):
    response = api_client.post(URL, "{not json", content_type="application/json")

    assert_envelope(response, status=400, error="parse_error")


def test_registration_ignores_a_stale_bearer_token(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer expired.or.garbage")

    response = api_client.post(URL, registration(), format="json")

    assert_envelope(response, status=201)
