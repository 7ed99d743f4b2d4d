"""Who may call each email-service operation (notification_devtools/testing/auth_matrix.py)."""

import pytest

from emails.tests.factories import DeliveredEmailFactory
from notification_devtools.testing.auth_matrix import *  # noqa: F403
from notification_devtools.testing.auth_matrix import USER_A

# Deliveries are read by the platform only (the gateway, the admin service): internal keys.
AUTH_MATRIX = {
    "GET /api/v1/emails/": {"internal"},
    "GET /api/v1/emails/stats/": {"internal"},
    "GET /api/v1/emails/{notification_id}/": {"internal"},
}


@pytest.fixture
def matrix_resources(db) -> dict:
    return {"notification_id": str(DeliveredEmailFactory(user_id=USER_A).notification_id)}
