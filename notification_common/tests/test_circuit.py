"""The circuit breaker always recovers: every path records an outcome, and a lost trial expires.

The clock is injected, so no test waits for a cool-down.
"""

import pytest
import requests

from notification_common.circuit import CircuitBreaker, CircuitOpenError
from notification_common.exceptions import DependencyUnavailable
from notification_common.http_client import ServiceClient


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


def _breaker(clock, **kwargs) -> CircuitBreaker:
    kwargs.setdefault("failure_threshold", 2)
    kwargs.setdefault("reset_seconds", 10)
    kwargs.setdefault("trial_timeout", 30)
    return CircuitBreaker("target", clock=clock, **kwargs)


def _fail(breaker: CircuitBreaker) -> None:
    with pytest.raises(ConnectionError):
        with breaker.attempt():
            raise ConnectionError("refused")


def test_closed_opens_after_threshold_then_half_opens_and_closes_on_a_good_trial(clock):
    breaker = _breaker(clock)
    _fail(breaker)
    assert breaker.state == "closed"
    _fail(breaker)
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        breaker.before_call()

    clock.advance(10)
    assert breaker.state == "half_open"
    with breaker.attempt():
        # While the trial is in flight, everyone else still fails fast.
        with pytest.raises(CircuitOpenError):
            breaker.before_call()

    assert breaker.state == "closed"
    breaker.before_call()  # closed: no error


def test_a_failed_trial_opens_the_circuit_again_for_a_full_cool_down(clock):
    breaker = _breaker(clock, failure_threshold=1)
    _fail(breaker)
    clock.advance(10)

    _fail(breaker)  # the trial

    assert breaker.state == "open"
    clock.advance(9.9)
    assert breaker.state == "open"
    clock.advance(0.1)
    assert breaker.state == "half_open"


def test_a_trial_that_raises_something_unexpected_does_not_hold_the_circuit_open(clock):
    breaker = _breaker(clock, failure_threshold=1)
    _fail(breaker)
    clock.advance(10)

    with pytest.raises(KeyError):
        with breaker.attempt():
            raise KeyError("a bug in the caller, not a requests error")

    # Recorded as a failure: one more cool-down, then a new trial is let through and can close it.
    assert breaker.state == "open"
    clock.advance(10)
    assert breaker.call(lambda: "answer") == "answer"
    assert breaker.state == "closed"


def test_an_interrupted_trial_frees_the_trial_slot(clock):
    breaker = _breaker(clock, failure_threshold=1)
    _fail(breaker)
    clock.advance(10)

    with pytest.raises(KeyboardInterrupt):
        with breaker.attempt():
            raise KeyboardInterrupt

    breaker.before_call()  # the next caller is the trial at once
    breaker.record_success()
    assert breaker.state == "closed"


def test_a_trial_that_never_reports_back_expires(clock):
    breaker = _breaker(clock, failure_threshold=1, trial_timeout=30)
    _fail(breaker)
    clock.advance(10)
    breaker.before_call()  # a trial whose caller never records an outcome (old-style use)

    clock.advance(29)
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    clock.advance(1)
    breaker.before_call()  # the lost trial expired: this caller is the new trial
    breaker.record_success()

    assert breaker.state == "closed"


def test_explicit_failure_inside_an_attempt_counts(clock):
    breaker = _breaker(clock, failure_threshold=1)
    with breaker.attempt() as attempt:
        attempt.failure()  # e.g. an HTTP 503 answer: no exception, still a failure
    assert breaker.state == "open"


# -- the HTTP client: what counts as a failure -----------------------------------------------


def test_client_errors_never_open_the_circuit(stub_server, clock):
    stub_server.reply("GET", "/thing/", 404, error="not_found")
    stub_server.reply("POST", "/thing/", 400, error="validation_error")
    breaker = _breaker(clock, failure_threshold=2)
    client = ServiceClient("target", stub_server.url, api_key="k", retries=0, breaker=breaker)

    for _ in range(5):
        assert client.get("/thing/").status_code == 404
        assert client.post("/thing/").status_code == 400

    assert breaker.state == "closed"


def test_server_errors_and_connection_errors_open_the_circuit_and_503_carries_retry_after(stub_server, clock):
    breaker = _breaker(clock, failure_threshold=2)
    client = ServiceClient("target", stub_server.url, api_key="k", retries=0, breaker=breaker)
    stub_server.fail_next(1, status=502)
    with pytest.raises(DependencyUnavailable):
        client.get("/thing/")
    dead = ServiceClient("target", "http://127.0.0.1:9", api_key="k", retries=0, breaker=breaker)
    with pytest.raises(DependencyUnavailable):
        dead.get("/thing/")
    assert breaker.state == "open"

    with pytest.raises(DependencyUnavailable) as raised:
        client.get("/thing/")

    assert raised.value.status_code == 503
    assert raised.value.headers["Retry-After"] == "10"
    assert len(stub_server.requests) == 1  # the open circuit failed fast


def test_client_trial_that_raises_a_non_requests_error_lets_the_circuit_recover(stub_server, clock, monkeypatch):
    stub_server.reply("GET", "/thing/", 200, data={"ok": True})
    breaker = _breaker(clock, failure_threshold=1)
    client = ServiceClient("target", stub_server.url, api_key="k", retries=0, breaker=breaker)
    breaker.record_failure()
    clock.advance(10)

    # Failure injection at the boundary: the HTTP library raises something unexpected.
    def broken_request(*args, **kwargs):
        raise ValueError("unexpected error inside the HTTP library")

    session = client._session()
    monkeypatch.setattr(session, "request", broken_request)
    with pytest.raises(ValueError):
        client.get("/thing/")
    monkeypatch.undo()

    clock.advance(10)
    assert client.get("/thing/").status_code == 200
    assert breaker.state == "closed"


def test_timeouts_count_as_failures(clock, monkeypatch, stub_server):
    breaker = _breaker(clock, failure_threshold=1)
    client = ServiceClient("target", stub_server.url, api_key="k", retries=0, breaker=breaker)

    def timing_out(*args, **kwargs):
        raise requests.ReadTimeout("read timed out")

    monkeypatch.setattr(client._session(), "request", timing_out)
    with pytest.raises(DependencyUnavailable):
        client.get("/thing/")

    assert breaker.state == "open"
