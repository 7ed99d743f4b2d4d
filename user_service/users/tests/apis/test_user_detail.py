"""GET /api/v1/users/{user_id}/: the user themself or an internal service."""

import uuid
from datetime import UTC, datetime

import pytest

from notification_devtools.testing import assert_envelope
from users.models import User
from users.selectors import user_get
from users.serializers import UserOutputSerializer
from users.tests.factories import DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db


def url(user_id) -> str:
    return f"/api/v1/users/{user_id}/"


def test_internal_caller_gets_the_user_with_preferences_and_active_devices(internal_client, user):
    active = DeviceFactory(user=user, token="tok-live", platform="ios", name="Phone")
    DeviceFactory(user=user, token="tok-dead", active=False)

    data = assert_envelope(internal_client.get(url(user.id)), status=200)["data"]

    assert data["id"] == str(user.id)
    assert data["preferences"] == {
        "email": True,
        "push": True,
        "timezone": "UTC",
        "quiet_hours": None,
        "categories": {},
    }
    assert [d["id"] for d in data["devices"]] == [str(active.id)]
    assert set(data["devices"][0]) >= {"id", "token", "platform", "name", "active", "last_seen"}


def test_user_gets_themself(as_user, user):
    assert assert_envelope(as_user(user).get(url(user.id)), status=200)["data"]["id"] == str(user.id)


def test_token_of_another_user_answers_403(as_user, user):
    other = UserFactory()

    assert_envelope(as_user(other).get(url(user.id)), status=403, error="permission_denied")


def test_no_credentials_answer_401(api_client, user):
    assert_envelope(api_client.get(url(user.id)), status=401, error="not_authenticated")


def test_key_without_internal_scope_answers_403(sender_client, user):
    assert_envelope(sender_client.get(url(user.id)), status=403, error="permission_denied")


def test_unknown_api_key_answers_401(api_client, user):
    api_client.credentials(HTTP_X_API_KEY="not-a-key")

    assert_envelope(api_client.get(url(user.id)), status=401, error="authentication_failed")


def test_unknown_user_answers_404(internal_client):
    assert_envelope(internal_client.get(url(uuid.uuid4())), status=404, error="not_found")


def test_non_uuid_id_answers_404(internal_client):
    assert_envelope(internal_client.get(url("12345")), status=404, error="not_found")


def test_deactivated_user_is_returned_with_is_active_false(internal_client):
    user = UserFactory(is_active=False)

    assert assert_envelope(internal_client.get(url(user.id)), status=200)["data"]["is_active"] is False


def test_answer_has_the_shape_of_the_user_serializer_with_every_field_set(internal_client):
    # The lookup builds its answer without the serializer (users.selectors.user_profile_get):
    # the two must not drift apart.
    user = UserFactory(preferences__timezone="Europe/Lisbon", preferences__push=False)
    user.preferences.quiet_hours = {"start": "22:00", "end": "07:00"}
    user.preferences.categories = {"marketing": {"email": False}}
    user.preferences.save()
    DeviceFactory(user=user, token="tok-a", last_seen=datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC), name="Old")
    DeviceFactory(user=user, token="tok-b", last_seen=datetime(2026, 1, 2, 3, 9, 5, tzinfo=UTC), platform="ios")
    DeviceFactory(user=user, token="tok-c", last_seen=datetime(2026, 1, 2, 4, 4, 5, 60, tzinfo=UTC))
    DeviceFactory(user=user, token="tok-off", active=False)

    data = assert_envelope(internal_client.get(url(user.id)), status=200)["data"]

    assert data == UserOutputSerializer(user_get(user_id=user.id)).data
    assert [d["token"] for d in data["devices"]] == ["tok-c", "tok-b", "tok-a"]


def test_user_without_preferences_row_gets_the_default_preferences(internal_client):
    user = User.objects.create(email="bare@example.com", name="Bare")  # no Preferences row

    data = assert_envelope(internal_client.get(url(user.id)), status=200)["data"]

    assert data == UserOutputSerializer(user_get(user_id=user.id)).data
    assert data["preferences"]["email"] is True and data["devices"] == []
