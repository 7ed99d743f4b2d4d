"""The gateway's schema tells the truth (notification_common/testing/schema_contract.py)."""

import pytest

from notification_common.testing.schema_contract import *  # noqa: F403


@pytest.fixture
def schema_fuzz_headers(sender_key, internal_key) -> list[dict]:
    return [{"X-API-Key": sender_key}, {"X-API-Key": internal_key}]
