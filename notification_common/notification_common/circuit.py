"""An in-process circuit breaker: after N consecutive failures calls fail fast for a
cool-down, then one trial call decides whether to close again."""

import threading
import time


class CircuitOpenError(Exception):
    def __init__(self, name: str, retry_in: float):
        super().__init__(f"circuit '{name}' is open; retry in {retry_in:.1f}s")
        self.name = name
        self.retry_in = retry_in


class CircuitBreaker:
    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(self, name: str, *, failure_threshold: int = 5, reset_seconds: float = 15.0, clock=time.monotonic):
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return self.CLOSED
        if self._clock() - self._opened_at >= self.reset_seconds:
            return self.HALF_OPEN
        return self.OPEN

    def before_call(self) -> None:
        """Raise CircuitOpenError when calls must fail fast; let one trial through when half open."""
        with self._lock:
            state = self._state()
            if state == self.CLOSED:
                return
            if state == self.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return
            retry_in = max(0.0, self.reset_seconds - (self._clock() - (self._opened_at or 0)))
            raise CircuitOpenError(self.name, retry_in)

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_in_flight = False
            if self._opened_at is not None or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()

    def retry_in(self) -> float:
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.reset_seconds - (self._clock() - self._opened_at))
