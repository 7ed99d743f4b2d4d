"""Who may call each user-service operation (notification_devtools/testing/auth_matrix.py)."""

import pytest

from notification_devtools.testing.auth_matrix import *  # noqa: F403
from notification_devtools.testing.auth_matrix import ANYONE, USER_A, USER_B
from users.tests.factories import DeviceFactory, NotificationLogFactory, UserFactory

# Registration, login, refresh and the public key are open; "me" is whoever holds the token;
# a user's own resources are the user's and internal keys'; the rest is internal only.
OWNER = {"internal", "user_a"}
AUTH_MATRIX = {
    "DELETE /api/v1/users/{user_id}/devices/{device_id}/": {"user_a"},
    "GET /api/v1/notifications/{notification_id}/status/": {"internal"},
    "GET /api/v1/users/": {"internal"},
    "GET /api/v1/users/jwks/": ANYONE,
    "GET /api/v1/users/me/": {"user_a", "user_b"},
    "GET /api/v1/users/public-key/": ANYONE,
    "GET /api/v1/users/stats/": {"internal"},
    "GET /api/v1/users/{user_id}/": OWNER,
    "GET /api/v1/users/{user_id}/devices/": OWNER,
    "GET /api/v1/users/{user_id}/notifications/": OWNER,
    "PATCH /api/v1/users/me/": {"user_a", "user_b"},
    "POST /api/v1/devices/deactivate/": {"internal"},
    "POST /api/v1/email/status/": {"internal"},
    "POST /api/v1/push/status/": {"internal"},
    "POST /api/v1/users/": ANYONE,
    "POST /api/v1/users/login/": ANYONE,
    "POST /api/v1/users/me/password/": {"user_a", "user_b"},
    "POST /api/v1/users/token/refresh/": ANYONE,
    "POST /api/v1/users/{user_id}/deactivate/": {"internal"},
    "POST /api/v1/users/{user_id}/devices/": OWNER,
    "POST /api/v1/users/{user_id}/reactivate/": {"internal"},
    "GET /api/v1/notifications/status-events/": {"internal"},
    "GET /api/v1/notifications/delivery-series/": {"internal"},
    "GET /api/v1/users/by-external-id/{external_id}/": {"internal"},
    "PUT /api/v1/users/by-external-id/{external_id}/": {"users:write"},
    "POST /api/v1/users/import/": {"users:write"},
    # The token in the link is the credential (an email's unsubscribe link).
    "GET /api/v1/unsubscribe/{token}/": ANYONE,
    "POST /api/v1/unsubscribe/{token}/": ANYONE,
}


@pytest.fixture
def matrix_resources(db) -> dict:
    user_a = UserFactory(id=USER_A)
    UserFactory(id=USER_B)
    device = DeviceFactory(user=user_a)
    log = NotificationLogFactory(user_id=user_a.id)
    return {"user_id": USER_A, "device_id": str(device.id), "notification_id": str(log.notification_id)}
