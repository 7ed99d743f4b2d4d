"""Deactivating a user stops their access tokens everywhere within seconds (the shared
deactivated-user list), and reactivating restores them."""

import pytest
from rest_framework.test import APIClient

from notification_common import user_denylist
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh():
    user_denylist.forget_remembered()
    yield
    user_denylist.forget_remembered()


def me(user, user_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_token(user.id)}")
    return client.get("/api/v1/users/me/")


def test_a_deactivated_users_token_is_refused_and_listed_for_the_token_lifetime(
    internal_client, user, user_token, redis_client, django_capture_on_commit_callbacks, settings
):
    assert_envelope(me(user, user_token), status=200)

    with django_capture_on_commit_callbacks(execute=True):
        assert_envelope(internal_client.post(f"/api/v1/users/{user.id}/deactivate/"), status=200)
    user_denylist.forget_remembered()

    assert_envelope(me(user, user_token), status=401)
    ttl = redis_client.ttl(f"user-denied:v1:{user.id}")
    assert (
        settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()
        < ttl
        <= (settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds() + 60)
    )


def test_reactivation_restores_the_token(internal_client, user, user_token, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        internal_client.post(f"/api/v1/users/{user.id}/deactivate/")
    with django_capture_on_commit_callbacks(execute=True):
        internal_client.post(f"/api/v1/users/{user.id}/reactivate/")
    user_denylist.forget_remembered()

    assert_envelope(me(user, user_token), status=200)
