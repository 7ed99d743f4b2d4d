"""Who may call each admin-service operation (notification_devtools/testing/auth_matrix.py):
admin tokens only, never a user token or a key, but for the key check the other services make."""

import pytest

from notification_devtools.testing.auth_matrix import *  # noqa: F403
from notification_devtools.testing.auth_matrix import ANYONE, USER_A
from platform_admin.tests.factories import ApiKeyFactory, DeadLetterFactory
from platform_admin.tokens import admin_tokens_issue

ADMIN = {"admin"}
AUTH_MATRIX = {
    "POST /api/v1/admin/login/": ANYONE,
    "POST /api/v1/admin/token/refresh/": ANYONE,
    "POST /api/v1/admin/api-keys/verify/": {"internal"},
    "GET /api/v1/admin/me/": ADMIN,
    "GET /api/v1/admin/dashboard/": ADMIN,
    "GET /api/v1/admin/api-keys/": ADMIN,
    "POST /api/v1/admin/api-keys/": ADMIN,
    "GET /api/v1/admin/api-keys/{api_key_id}/": ADMIN,
    "POST /api/v1/admin/api-keys/{api_key_id}/revoke/": ADMIN,
    "POST /api/v1/admin/api-keys/{api_key_id}/rotate/": ADMIN,
    "GET /api/v1/admin/audit/": ADMIN,
    "GET /api/v1/admin/dead-letters/": ADMIN,
    "GET /api/v1/admin/dead-letters/{dead_letter_id}/": ADMIN,
    "POST /api/v1/admin/dead-letters/{dead_letter_id}/replay/": ADMIN,
    "POST /api/v1/admin/dead-letters/replay/": ADMIN,
    "GET /api/v1/admin/outbox/parked/": ADMIN,
    "POST /api/v1/admin/outbox/{notification_id}/replay/": ADMIN,
    "GET /api/v1/admin/templates/": ADMIN,
    "POST /api/v1/admin/templates/": ADMIN,
    "GET /api/v1/admin/templates/{code}/": ADMIN,
    "POST /api/v1/admin/templates/{code}/activate/": ADMIN,
    "POST /api/v1/admin/templates/{code}/versions/": ADMIN,
    "GET /api/v1/admin/users/": ADMIN,
    "GET /api/v1/admin/users/{user_id}/": ADMIN,
    "POST /api/v1/admin/users/{user_id}/deactivate/": ADMIN,
    "POST /api/v1/admin/users/{user_id}/reactivate/": ADMIN,
}


@pytest.fixture
def matrix_extra_credentials(admin_user, internal_key) -> dict:
    return {
        "admin": {"HTTP_AUTHORIZATION": f"Bearer {admin_tokens_issue(user=admin_user)['access']}"},
        # This service checks keys in its own database (bootstrap keys included), not through a stub.
        "internal": {"HTTP_X_API_KEY": internal_key},
    }


@pytest.fixture
def matrix_resources(db) -> dict:
    return {
        "api_key_id": str(ApiKeyFactory().id),
        "dead_letter_id": str(DeadLetterFactory().id),
        "user_id": USER_A,
        "code": "welcome",
        "notification_id": "00000000-0000-4000-8000-000000000001",
    }
