"""A timed provider outage, the same in the loopback SMTP and FCM servers.

For the outage's length every attempt it applies to is refused with one scripted answer
(SMTP ``451 ...``, FCM ``UNAVAILABLE``); then it ends by itself, on the server's clock (tests
inject one). The chaos suite uses it for "SMTP answers 451 / FCM answers 503 for 10 minutes".
Not locked: each server calls it under its own lock, with the rest of its failure scripts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["TimedOutage"]

T = TypeVar("T")


class TimedOutage(Generic[T]):
    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._answer: T | None = None
        self._ends_at = 0.0
        self.refusals = 0  # attempts refused since the server started: proof an outage bit

    def start(self, seconds: float, answer: T) -> None:
        """Refuse with ``answer`` for ``seconds`` from now; ``seconds <= 0`` ends the outage now."""
        seconds = float(seconds)
        self._answer = answer if seconds > 0 else None
        self._ends_at = self._clock() + seconds

    def end(self) -> None:
        self._answer = None

    @property
    def remaining(self) -> float:
        """Seconds left of the outage (0.0 when there is none; one whose time is up ends here)."""
        if self._answer is None:
            return 0.0
        remaining = self._ends_at - self._clock()
        if remaining <= 0:
            self._answer = None
            return 0.0
        return remaining

    def refuse(self, applies: Callable[[T], bool] = lambda _answer: True) -> T | None:
        """The answer refusing this attempt (counted), or None when no outage applies to it."""
        if self.remaining > 0 and applies(self._answer):
            self.refusals += 1
            return self._answer
        return None
