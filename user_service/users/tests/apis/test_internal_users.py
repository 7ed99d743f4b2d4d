"""Internal user operations: list/search, deactivate, reactivate, stats."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from notification_devtools.testing import assert_envelope
from users.models import NotificationLog
from users.tests.factories import DeviceFactory, NotificationLogFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/users/"
STATS = "/api/v1/users/stats/"


def test_internal_list_is_paginated_with_meta(internal_client):
    UserFactory.create_batch(3)

    body = assert_envelope(internal_client.get(LIST, {"limit": 2, "page": 2}), status=200)

    assert len(body["data"]) == 1
    assert body["meta"] == {
        "total": 3,
        "limit": 2,
        "page": 2,
        "total_pages": 2,
        "has_next": False,
        "has_previous": True,
    }


def test_internal_list_searches_email_and_name(internal_client):
    UserFactory(email="ada@example.com", name="Ada")
    UserFactory(email="bob@example.com", name="Grace Lovelace")
    UserFactory(email="carl@example.com", name="Carl")

    body = assert_envelope(internal_client.get(LIST, {"search": "lovelace"}), status=200)
    by_email = assert_envelope(internal_client.get(LIST, {"search": "ADA@"}), status=200)

    assert [u["email"] for u in body["data"]] == ["bob@example.com"]
    assert [u["email"] for u in by_email["data"]] == ["ada@example.com"]


def test_list_with_a_user_token_answers_403(as_user, user):
    assert_envelope(as_user(user).get(LIST), status=403, error="permission_denied")


def test_list_without_credentials_answers_401(api_client):
    assert_envelope(api_client.get(LIST), status=401, error="not_authenticated")


def test_list_with_page_zero_names_page(internal_client):
    assert "page" in assert_envelope(internal_client.get(LIST, {"page": 0}), status=400)["data"]


def test_deactivate_then_reactivate(internal_client, user):
    off = internal_client.post(f"/api/v1/users/{user.id}/deactivate/")
    on = internal_client.post(f"/api/v1/users/{user.id}/reactivate/")

    assert assert_envelope(off, status=200)["data"]["is_active"] is False
    assert assert_envelope(on, status=200)["data"]["is_active"] is True


def test_deactivated_user_cannot_log_in(internal_client, api_client, user):
    from users.tests.factories import PASSWORD

    internal_client.post(f"/api/v1/users/{user.id}/deactivate/")
    api_client.credentials()

    response = api_client.post("/api/v1/users/login/", {"email": user.email, "password": PASSWORD})

    assert_envelope(response, status=403, error="account_inactive")


def test_deactivating_an_unknown_user_answers_404(internal_client):
    assert_envelope(internal_client.post(f"/api/v1/users/{uuid.uuid4()}/deactivate/"), status=404)


@pytest.mark.parametrize("action", ["deactivate", "reactivate"])
def test_user_cannot_deactivate_or_reactivate_even_themself(as_user, user, action):
    assert_envelope(as_user(user).post(f"/api/v1/users/{user.id}/{action}/"), status=403)


def test_stats_count_users_devices_and_recent_notifications(internal_client):
    UserFactory.create_batch(2)
    UserFactory(is_active=False)
    DeviceFactory.create_batch(2)
    DeviceFactory(active=False)
    NotificationLogFactory(channel="email", status="delivered")
    NotificationLogFactory(channel="push", status="failed")
    old = NotificationLogFactory(channel="push", status="delivered")
    NotificationLog.objects.filter(id=old.id).update(updated_at=timezone.now() - timedelta(hours=3))

    data = assert_envelope(internal_client.get(STATS), status=200)["data"]

    assert data["users"] == {"total": 6, "active": 5}  # 3 + the device owners
    assert data["devices"] == {"total": 3, "active": 2}
    assert data["notifications"]["last_hour"]["by_status"] == {"pending": 0, "delivered": 1, "failed": 1}
    assert data["notifications"]["last_hour"]["by_channel"] == {"email": 1, "push": 1}
    assert data["notifications"]["last_day"]["by_channel"] == {"email": 1, "push": 2}
    assert data["notifications"]["total"]["by_status"]["delivered"] == 2


def test_stats_need_an_internal_key(sender_client):
    assert_envelope(sender_client.get(STATS), status=403)
