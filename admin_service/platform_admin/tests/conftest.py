import pytest
from django.test import Client
from rest_framework.test import APIClient

from notification_common.service_clients import reset_clients
from platform_admin.tests.factories import AdminFactory
from platform_admin.tokens import admin_tokens_issue


@pytest.fixture(autouse=True)
def _fresh_redis(redis_client):
    """Rate-limit counters, cached key verdicts and usage stamps never leak between tests."""
    return redis_client


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_user(db):
    return AdminFactory(username="ada")


@pytest.fixture
def admin_api(admin_user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_tokens_issue(user=admin_user)['access']}")
    return client


@pytest.fixture
def staff_browser(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def platform(stub_server, settings):
    """One stub standing in for every other service (they answer on different paths)."""
    for name in (
        "GATEWAY_SERVICE_URL",
        "USER_SERVICE_URL",
        "TEMPLATE_SERVICE_URL",
        "EMAIL_SERVICE_URL",
        "PUSH_SERVICE_URL",
    ):
        setattr(settings, name, stub_server.url)
    reset_clients()
    yield stub_server
    reset_clients()
