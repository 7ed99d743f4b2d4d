"""Service-to-service calls: headers on every call, bounded retries, the circuit breaker."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notification_common.circuit import CircuitBreaker
from notification_common.exceptions import DependencyUnavailable
from notification_common.http_client import ServiceClient
from notification_common.request_context import request_id_scope


class _Target:
    """A loopback HTTP server that answers 503 for the first ``failures`` calls."""

    def __init__(self):
        self.calls: list[dict] = []
        self.failures = 0
        target = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                target.calls.append(
                    {"method": self.command, "headers": dict(self.headers), "body": self.rfile.read(length)}
                )
                status = 503 if target.failures > 0 else 200
                target.failures -= 1
                body = json.dumps({"success": status == 200, "data": {"n": len(target.calls)}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target():
    server = _Target()
    yield server
    server.close()


def test_every_call_carries_the_request_id_and_service_key(target):
    client = ServiceClient("target", target.url, api_key="k-123", backoff_seconds=0)

    with request_id_scope("req-42"):
        response = client.get("/thing/")

    assert response.status_code == 200
    assert target.calls[0]["headers"]["X-Request-ID"] == "req-42"
    assert target.calls[0]["headers"]["X-API-Key"] == "k-123"


def test_idempotent_calls_are_retried_after_a_5xx(target):
    target.failures = 2
    client = ServiceClient("target", target.url, api_key="k", retries=2, backoff_seconds=0)

    response = client.get("/thing/")

    assert response.status_code == 200
    assert len(target.calls) == 3


def test_post_is_not_retried_unless_asked(target):
    target.failures = 1
    client = ServiceClient("target", target.url, api_key="k", retries=2, backoff_seconds=0)

    with pytest.raises(DependencyUnavailable):
        client.post("/thing/", json={"a": 1})
    assert len(target.calls) == 1


def test_unreachable_target_raises_dependency_unavailable_naming_it():
    client = ServiceClient("user_service", "http://127.0.0.1:1", api_key="k", retries=0)

    with pytest.raises(DependencyUnavailable) as raised:
        client.get("/users/")

    assert raised.value.dependency == "user_service"
    assert raised.value.status_code == 503


def test_open_circuit_fails_fast_without_calling(target):
    target.failures = 100
    breaker = CircuitBreaker("target", failure_threshold=2, reset_seconds=60)
    client = ServiceClient("target", target.url, api_key="k", retries=0, breaker=breaker)
    for _ in range(2):
        with pytest.raises(DependencyUnavailable):
            client.get("/thing/")

    with pytest.raises(DependencyUnavailable, match="circuit open"):
        client.get("/thing/")

    assert len(target.calls) == 2


def test_circuit_half_opens_after_the_cool_down_and_closes_on_success():
    now = [0.0]
    breaker = CircuitBreaker("x", failure_threshold=1, reset_seconds=10, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.state == "open"

    now[0] = 11
    breaker.before_call()  # the one trial call is let through
    breaker.record_success()

    assert breaker.state == "closed"
