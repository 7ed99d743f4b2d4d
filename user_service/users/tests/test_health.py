"""The user service passes the health, metrics, OpenAPI and request-id contract of every service."""

import pytest

from notification_devtools.testing.service_contract import *  # noqa: F403


@pytest.fixture
def expected_health_checks():
    return {"database", "redis"}
