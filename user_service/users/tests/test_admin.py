"""The Django admin lists, filters and searches users, devices and the notification log."""

import pytest
from django.test import Client

from users.models import Preferences, User
from users.tests.factories import DeviceFactory, NotificationLogFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_():
    admin = User.objects.create_superuser("root@example.com", "admin-pass-123", name="Root")
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/users/user/",
        "/admin/users/user/?q=ada&is_active__exact=1",
        "/admin/users/device/?platform__exact=ios&active__exact=1&q=tok",
        "/admin/users/notificationlog/?status__exact=failed&channel__exact=email",
        "/admin/users/user/add/",
    ],
)
def test_admin_pages_render(admin_client_, path):
    UserFactory(email="ada@example.com")
    DeviceFactory(platform="ios", token="tok-1")
    NotificationLogFactory(status="failed")

    assert admin_client_.get(path).status_code == 200


def test_admin_change_pages_render(admin_client_):
    device = DeviceFactory()
    log = NotificationLogFactory()

    assert admin_client_.get(f"/admin/users/user/{device.user_id}/change/").status_code == 200
    assert admin_client_.get(f"/admin/users/device/{device.id}/change/").status_code == 200
    assert admin_client_.get(f"/admin/users/notificationlog/{log.id}/change/").status_code == 200


def test_admin_searches_the_log_by_notification_id(admin_client_):
    log = NotificationLogFactory()
    NotificationLogFactory()

    page = admin_client_.get("/admin/users/notificationlog/", {"q": str(log.notification_id)}).content.decode()

    assert "1 notification log" in page


def test_admin_creates_a_user_with_preferences(admin_client_):
    response = admin_client_.post(
        "/admin/users/user/add/",
        {"email": "New@Example.com", "name": "New", "password1": "s3cret-passphrase", "password2": "s3cret-passphrase"},
    )

    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert Preferences.objects.filter(user=user).exists()
