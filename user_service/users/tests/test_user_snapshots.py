"""Changes the gateway decides on drop its cached copy of the user at once (after commit)."""

import pytest

from notification_common.user_snapshots import user_snapshot_key
from notification_devtools.testing import assert_envelope
from users.tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cached(redis_client):
    """``cached(user)`` puts a gateway-style snapshot in Redis and returns its key."""

    def put(user):
        key = user_snapshot_key(user.id)
        redis_client.set(key, "{}")
        return key

    return put


def test_turning_a_preference_off_drops_the_cached_user(
    as_user, user, cached, redis_client, django_capture_on_commit_callbacks
):
    key = cached(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(user).patch("/api/v1/users/me/", {"preferences": {"email": False}}, format="json")

    assert_envelope(response, status=200)
    assert redis_client.get(key) is None


def test_adding_a_device_drops_the_cached_user(as_user, user, cached, redis_client, django_capture_on_commit_callbacks):
    key = cached(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(user).post(f"/api/v1/users/{user.id}/devices/", {"token": "tok-new"}, format="json")

    assert_envelope(response, status=201)
    assert redis_client.get(key) is None


def test_a_dead_token_drops_the_cached_copy_of_its_owner(
    internal_client, user, cached, redis_client, django_capture_on_commit_callbacks
):
    DeviceFactory(user=user, token="tok-dead")
    key = cached(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = internal_client.post(
            "/api/v1/devices/deactivate/", {"token": "tok-dead", "reason": "UNREGISTERED"}, format="json"
        )

    assert_envelope(response, status=200)
    assert redis_client.get(key) is None


def test_deactivating_a_user_drops_the_cached_user(
    internal_client, user, cached, redis_client, django_capture_on_commit_callbacks
):
    key = cached(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = internal_client.post(f"/api/v1/users/{user.id}/deactivate/")

    assert_envelope(response, status=200)
    assert redis_client.get(key) is None
