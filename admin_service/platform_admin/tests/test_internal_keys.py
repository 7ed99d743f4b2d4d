"""Only superusers mint keys with the internal scope (API, rotation and the admin site)."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from notification_devtools.testing import assert_envelope
from platform_admin.models import ApiKey
from platform_admin.tests.factories import AdminFactory, ApiKeyFactory
from platform_admin.tokens import admin_tokens_issue

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/admin/api-keys/"


@pytest.fixture
def staff():
    user = AdminFactory(username="sam", is_superuser=False)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_apikey", "view_apikey", "change_apikey"]))
    return user


def api_as(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_tokens_issue(user=user)['access']}")
    return client


def test_staff_cannot_create_an_internal_key(staff):
    response = api_as(staff).post(KEYS, {"name": "svc", "scopes": ["internal"]}, format="json")

    body = assert_envelope(response, status=403, error="permission_denied")
    assert "scopes" in body["data"]
    assert not ApiKey.objects.filter(name="svc").exists()


def test_staff_can_create_a_sending_key(staff):
    response = api_as(staff).post(KEYS, {"name": "partner", "scopes": ["notifications:send"]}, format="json")

    assert_envelope(response, status=201)


def test_a_superuser_can_create_an_internal_key(admin_api):
    response = admin_api.post(KEYS, {"name": "svc", "scopes": ["internal"]}, format="json")

    assert assert_envelope(response, status=201)["data"]["scopes"] == ["internal"]


def test_staff_cannot_rotate_an_internal_key(staff):
    key = ApiKeyFactory(scopes=["internal"])

    response = api_as(staff).post(f"{KEYS}{key.pk}/rotate/")

    assert_envelope(response, status=403, error="permission_denied")
    key.refresh_from_db()
    assert key.revoked_at is None


def test_the_admin_add_form_offers_the_internal_scope_to_superusers_only(staff, admin_user):
    url = reverse("admin:platform_admin_apikey_add")
    staff_browser, super_browser = Client(), Client()
    staff_browser.force_login(staff)
    super_browser.force_login(admin_user)

    assert 'value="internal"' not in staff_browser.get(url).content.decode()
    assert 'value="internal"' in super_browser.get(url).content.decode()
    staff_browser.post(url, {"name": "sneaky", "scopes": ["internal"]})
    assert not ApiKey.objects.filter(name="sneaky").exists()
