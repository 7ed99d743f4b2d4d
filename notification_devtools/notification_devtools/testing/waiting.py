"""Waiting on a condition instead of sleeping (tests never depend on wall-clock sleeps)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition", poll: float = 0.02) -> T:
    """Call ``predicate`` until it returns something truthy and return that; fail the test
    (AssertionError naming ``what``) if ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not met within {timeout}s"
        threading.Event().wait(poll)
