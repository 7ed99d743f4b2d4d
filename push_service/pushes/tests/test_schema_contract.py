"""The push service's schema tells the truth (notification_common/testing/schema_contract.py)."""

import pytest

from notification_common.testing.schema_contract import *  # noqa: F403
from pushes.tests.test_health import consumer_alive  # noqa: F401 - fixture


@pytest.fixture
def healthy_service(consumer_alive, settings):  # noqa: F811
    # One heartbeat must outlast the fuzzing run (no consumer beats in these tests).
    settings.PUSH_SERVICE = {**settings.PUSH_SERVICE, "HEARTBEAT_MAX_AGE_SECONDS": 3600}
