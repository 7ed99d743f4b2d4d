"""GET/PATCH /api/v1/users/me/ and POST /api/v1/users/me/password/."""

import uuid

import pytest

from notification_devtools.testing import assert_envelope
from users.models import User
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me/"
PASSWORD_URL = "/api/v1/users/me/password/"
NEW_PASSWORD = "a-brand-new-passphrase"


def test_me_answers_the_token_owner(as_user, user):
    body = assert_envelope(as_user(user).get(ME), status=200)

    assert body["data"]["id"] == str(user.id)
    assert body["data"]["email"] == user.email


def test_me_without_token_answers_401(api_client):
    assert_envelope(api_client.get(ME), status=401, error="not_authenticated")


def test_me_with_an_api_key_answers_403(internal_client):
    assert_envelope(internal_client.get(ME), status=403, error="permission_denied")


def test_me_for_a_token_of_a_deleted_user_answers_401(api_client, user_token):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_token(uuid.uuid4())}")

    assert_envelope(api_client.get(ME), status=401, error="authentication_failed")


def test_me_for_a_deactivated_user_answers_403(as_user):
    user = UserFactory(is_active=False)

    assert_envelope(as_user(user).get(ME), status=403, error="account_inactive")


def test_patch_me_changes_the_name(as_user, user):
    body = assert_envelope(as_user(user).patch(ME, {"name": "Grace Hopper"}, format="json"), status=200)

    assert body["data"]["name"] == "Grace Hopper"
    user.refresh_from_db()
    assert user.name == "Grace Hopper"


def test_patch_me_changes_one_preference_and_keeps_the_other(as_user, user):
    body = assert_envelope(as_user(user).patch(ME, {"preferences": {"push": False}}, format="json"), status=200)

    assert body["data"]["preferences"] == {
        "email": True,
        "push": False,
        "timezone": "UTC",
        "quiet_hours": None,
        "categories": {},
    }


def test_patch_me_with_blank_name_is_named_in_a_400(as_user, user):
    body = assert_envelope(as_user(user).patch(ME, {"name": ""}, format="json"), status=400, error="validation_error")

    assert "name" in body["data"]


def test_patch_me_with_invalid_preference_is_named_in_a_400(as_user, user):
    response = as_user(user).patch(ME, {"preferences": {"email": "often"}}, format="json")

    assert "preferences" in assert_envelope(response, status=400, error="validation_error")["data"]


def test_patch_me_cannot_change_the_email(as_user, user):
    as_user(user).patch(ME, {"email": "other@example.com"}, format="json")

    user.refresh_from_db()
    assert user.email != "other@example.com"


def test_password_change_with_the_right_current_password(as_user, user):
    response = as_user(user).post(
        PASSWORD_URL, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )

    assert_envelope(response, status=200)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert user.password_changed_at is not None


def test_password_change_with_a_wrong_current_password_answers_400_naming_it(as_user, user):
    response = as_user(user).post(
        PASSWORD_URL, {"current_password": "nope", "new_password": NEW_PASSWORD}, format="json"
    )

    body = assert_envelope(response, status=400, error="invalid_password")
    assert "current_password" in body["data"]
    assert User.objects.get(id=user.id).check_password(PASSWORD)


def test_password_change_to_a_weak_password_names_new_password(as_user, user):
    response = as_user(user).post(PASSWORD_URL, {"current_password": PASSWORD, "new_password": "123"}, format="json")

    assert "new_password" in assert_envelope(response, status=400, error="validation_error")["data"]


@pytest.mark.parametrize("field", ["current_password", "new_password"])
def test_password_change_missing_field_is_named(as_user, user, field):
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    del body[field]

    response = as_user(user).post(PASSWORD_URL, body, format="json")

    assert field in assert_envelope(response, status=400, error="validation_error")["data"]


def test_password_change_guesses_are_rate_limited(as_user, user, settings):
    settings.LOGIN_MAX_FAILURES_PER_EMAIL = 2
    client = as_user(user)
    for _ in range(2):
        client.post(PASSWORD_URL, {"current_password": "guess", "new_password": NEW_PASSWORD}, format="json")

    response = client.post(PASSWORD_URL, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json")

    assert_envelope(response, status=429, error="rate_limited")


def test_after_a_password_change_login_needs_the_new_password(as_user, api_client, user):
    as_user(user).post(PASSWORD_URL, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json")
    api_client.credentials()

    old = api_client.post("/api/v1/users/login/", {"email": user.email, "password": PASSWORD}, format="json")
    new = api_client.post("/api/v1/users/login/", {"email": user.email, "password": NEW_PASSWORD}, format="json")

    assert (old.status_code, new.status_code) == (401, 200)
