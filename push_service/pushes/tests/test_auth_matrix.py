"""Who may call each push-service operation (notification_devtools/testing/auth_matrix.py)."""

import pytest

from notification_devtools.testing.auth_matrix import *  # noqa: F403
from notification_devtools.testing.auth_matrix import USER_A
from pushes.tests.factories import PushNotificationFactory

# Deliveries are read by the platform only (the gateway, the admin service): internal keys.
AUTH_MATRIX = {
    "GET /api/v1/pushes/": {"internal"},
    "GET /api/v1/pushes/stats/": {"internal"},
    "GET /api/v1/pushes/{notification_id}/": {"internal"},
}


@pytest.fixture
def matrix_resources(db) -> dict:
    return {"notification_id": str(PushNotificationFactory(user_id=USER_A).notification_id)}
