"""The email service's schema tells the truth (notification_common/testing/schema_contract.py)."""

import pytest

from emails.tests.test_health import consumer_alive  # noqa: F401 - fixture
from notification_common.testing.schema_contract import *  # noqa: F403


@pytest.fixture
def healthy_service(smtp_server, consumer_alive, settings):  # noqa: F811
    # One heartbeat must outlast the fuzzing run (no consumer beats in these tests).
    settings.EMAIL_HEARTBEAT_MAX_AGE_SECONDS = 3600
