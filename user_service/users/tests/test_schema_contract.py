"""The user service's schema tells the truth (notification_common/testing/schema_contract.py)."""

from notification_common.testing.schema_contract import *  # noqa: F403
