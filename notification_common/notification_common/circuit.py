"""An in-process circuit breaker: after N consecutive failures calls fail fast for a
cool-down, then one trial call decides whether to close again.

Use it through ``with breaker.attempt() as attempt:`` (or ``breaker.call(func)``): every
way out of the block records an outcome, so an unexpected exception in the half-open
trial can never leave the circuit open for good. A trial that never reports back (a
thread that died, a caller that forgot) is forgotten after ``trial_timeout`` seconds and
the next caller becomes the trial. What counts as a failure is the caller's decision:
the HTTP client counts 5xx, timeouts and connection errors, never a 4xx (the other
service answered; docs/operations.md, "Outages").
"""

import threading
import time
from contextlib import contextmanager


class CircuitOpenError(Exception):
    def __init__(self, name: str, retry_in: float):
        super().__init__(f"circuit '{name}' is open; retry in {retry_in:.1f}s")
        self.name = name
        self.retry_in = retry_in


class Attempt:
    """One guarded call. ``failure()`` / ``success()`` decide its outcome explicitly;
    leaving the block normally is a success, leaving it with an exception a failure."""

    __slots__ = ("outcome",)

    def __init__(self):
        self.outcome: str | None = None

    def success(self) -> None:
        self.outcome = "success"

    def failure(self) -> None:
        self.outcome = "failure"


class CircuitBreaker:
    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_seconds: float = 15.0,
        trial_timeout: float = 30.0,
        clock=time.monotonic,
    ):
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self.trial_timeout = trial_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_started_at: float | None = None

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

    def _trial_in_flight(self) -> bool:
        if self._trial_started_at is None:
            return False
        # A trial that never reported back must not hold the circuit open for good.
        return self._clock() - self._trial_started_at < self.trial_timeout

    def before_call(self) -> None:
        """Raise CircuitOpenError when calls must fail fast; let one trial through when half open.

        Prefer ``attempt()``: a caller of ``before_call`` must call ``record_success`` or
        ``record_failure`` on every path (an unreported trial only expires after ``trial_timeout``).
        """
        with self._lock:
            state = self._state()
            if state == self.CLOSED:
                return
            if state == self.HALF_OPEN and not self._trial_in_flight():
                self._trial_started_at = self._clock()
                return
            if state == self.HALF_OPEN:
                # Wait for the trial in flight (or for it to expire).
                retry_in = max(0.0, self.trial_timeout - (self._clock() - (self._trial_started_at or 0)))
            else:
                retry_in = max(0.0, self.reset_seconds - (self._clock() - (self._opened_at or 0)))
            raise CircuitOpenError(self.name, min(retry_in, self.reset_seconds))

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_started_at = None

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_started_at = None
            if self._opened_at is not None or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()

    def _release_trial(self) -> None:
        with self._lock:
            self._trial_started_at = None

    @contextmanager
    def attempt(self):
        """Guard one call: raises CircuitOpenError when it must fail fast, and always records an outcome."""
        self.before_call()
        attempt = Attempt()
        try:
            yield attempt
        except Exception:
            # Whatever went wrong (a bug included), the trial slot is released and the
            # circuit re-opens for one cool-down, after which a new trial is let through.
            self.record_failure()
            raise
        except BaseException:
            # Interrupted (KeyboardInterrupt, SystemExit, a closed generator): no verdict on
            # the other side, but the trial slot is freed.
            self._release_trial()
            raise
        if attempt.outcome == "failure":
            self.record_failure()
        else:
            self.record_success()

    def call(self, func, *args, **kwargs):
        """``func(*args, **kwargs)`` under ``attempt()``: an exception is a failure, a return a success."""
        with self.attempt():
            return func(*args, **kwargs)

    def retry_in(self) -> float:
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.reset_seconds - (self._clock() - self._opened_at))
