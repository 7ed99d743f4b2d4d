"""PushService: the unmodified firebase-admin SDK pointed at the loopback FCM server by
configuration, per-device results, the circuit breaker, and no connection leaving loopback."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from firebase_admin import messaging

from notification_common.circuit import CircuitBreaker
from notification_devtools.loopback.fcm import LoopbackFCMServer
from notification_devtools.testing.network import LOOPBACK_HOSTS, guard_loopback_only
from pushes.outcomes import DEACTIVATE, PERMANENT, SENT, TRANSIENT
from pushes.payloads import build_payload
from pushes.transport import (
    _WIRE_POOLS,
    SDK_RETRIES,
    FcmUnavailable,
    PushService,
    SendJob,
    point_sdk_at_fcm_endpoint,
)

PAYLOAD = build_payload(notification_id="n-1", title="Hi", body="There", data={"k": "v"})


def send(service: PushService, *tokens: str):
    return service.send([SendJob(key="n-1", payload=PAYLOAD, tokens=tokens)])["n-1"]


def test_sdk_private_fcm_url_attribute_still_exists_with_the_shape_we_replace():
    # firebase-admin is pinned; this fails loudly if an upgrade moves the attribute.
    template = messaging._MessagingService.FCM_URL
    assert isinstance(template, str) and template.endswith("/v1/projects/{0}/messages:send")


def test_endpoint_hook_builds_the_send_url_from_fcm_endpoint(monkeypatch):
    monkeypatch.setattr(messaging._MessagingService, "FCM_URL", messaging._MessagingService.FCM_URL)

    point_sdk_at_fcm_endpoint("http://127.0.0.1:9099/")

    assert messaging._MessagingService.FCM_URL.format("p") == "http://127.0.0.1:9099/v1/projects/p/messages:send"


def test_send_reaches_the_loopback_with_one_oauth_token(push_service, fcm):
    assert push_service.warm_up()

    outcomes = send(push_service, "tok-a", "tok-b", "tok-c")

    assert [o.kind for o in outcomes] == [SENT, SENT, SENT]
    assert all(o.message_id.startswith("projects/loopback-project/messages/") for o in outcomes)
    assert fcm.tokens_issued == 1  # verified against the service account's key, then reused
    assert fcm.messages[0]["message"]["notification"] == {"title": "Hi", "body": "There"}


def test_per_device_errors_are_classified(push_service, fcm):
    fcm.set_outcome("tok-gone", "UNREGISTERED")
    fcm.set_outcome("tok-other", "SENDER_ID_MISMATCH")
    fcm.set_outcome("tok-bad", "INVALID_ARGUMENT")
    fcm.set_outcome("tok-slow", "QUOTA_EXCEEDED", retry_after=None)

    outcomes = {o.token: o for o in send(push_service, "tok-gone", "tok-other", "tok-bad", "tok-slow", "tok-ok")}

    assert {t: (o.kind, o.error_code) for t, o in outcomes.items()} == {
        "tok-gone": (DEACTIVATE, "UNREGISTERED"),
        "tok-other": (DEACTIVATE, "SENDER_ID_MISMATCH"),
        "tok-bad": (DEACTIVATE, "INVALID_ARGUMENT"),
        "tok-slow": (TRANSIENT, "QUOTA_EXCEEDED"),
        "tok-ok": (SENT, ""),
    }


def test_invalid_argument_about_the_payload_does_not_blame_the_device(push_service, fcm):
    fcm.max_payload_bytes = 10  # FCM refuses the message itself, not the token

    [outcome] = send(push_service, "tok-a")

    assert (outcome.kind, outcome.error_code) == (PERMANENT, "INVALID_ARGUMENT")


def test_quota_exceeded_carries_retry_after_from_the_fcm_answer(push_service, fcm):
    # The SDK does not wait out Retry-After itself (stop_sdk_resends): we retry through the
    # delay queues no sooner than FCM asked, with the device not left "sending" meanwhile.
    fcm.set_outcome("tok-q", "QUOTA_EXCEEDED", times=5, retry_after=1)

    [outcome] = send(push_service, "tok-q")

    assert (outcome.kind, outcome.retry_after) == (TRANSIENT, 1.0)
    assert fcm.attempts("tok-q") == 1


@pytest.mark.parametrize("answer", ["UNAVAILABLE", "INTERNAL"])
def test_a_5xx_answer_reaches_fcm_once_and_comes_back_transient_at_once(push_service, fcm, answer):
    # The SDK's default policy would retry a 500/503 four times over ~7 s while the device is
    # marked "sending"; a worker killed then would leave a message FCM never took as unknown.
    fcm.set_outcome("tok-u", answer, times=None)

    [outcome] = send(push_service, "tok-u")

    assert (outcome.kind, outcome.error_code) == (TRANSIENT, answer)
    assert fcm.attempts("tok-u") == 1


def test_every_adapter_of_the_sdk_session_has_our_retry_policy(push_service):
    session = messaging._get_messaging_service(push_service.app)._client.session

    assert session.adapters and all(a.max_retries is SDK_RETRIES for a in session.adapters.values())
    assert SDK_RETRIES.read == 0 and SDK_RETRIES.status == 0 and SDK_RETRIES.connect == 1


def test_the_wire_hook_runs_for_each_token_just_before_its_request(fcm, service_account):
    # One request at a time, so "before" and "after" are well defined.
    service = PushService(service_account_path=service_account, endpoint=fcm.url, concurrency=1)
    seen = []

    def before_send(tokens, write):
        [token] = tokens
        seen.append((token, fcm.attempts(token), sorted(m["token"] for m in fcm.messages)))
        return True  # without writing: the request goes right after

    try:
        job = SendJob(key="n-1", payload=PAYLOAD, tokens=("tok-a", "tok-b", "tok-c"), before_send=before_send)
        outcomes = service.send([job])["n-1"]
    finally:
        service.close()

    # Then each token's hook ran once, when its own request had not been made yet and every
    # earlier one had: the device is marked just before its request, not with the whole job.
    assert seen == [("tok-a", 0, []), ("tok-b", 0, ["tok-a"]), ("tok-c", 0, ["tok-a", "tok-b"])]
    assert [o.kind for o in outcomes] == [SENT, SENT, SENT]


def test_a_token_whose_hook_says_no_is_not_sent(push_service, fcm):
    job = SendJob(key="n-1", payload=PAYLOAD, tokens=("tok-a", "tok-b"), before_send=lambda t, write: t != ("tok-b",))

    outcomes = push_service.send([job])["n-1"]

    assert [(o.token, o.kind) for o in outcomes] == [("tok-a", SENT)]
    assert fcm.messages_for("tok-b") == [] and fcm.attempts("tok-b") == 0


class _OneRequestServer:
    """A bare TCP server standing in for FCM's send endpoint: it accepts one connection, then
    reads nothing until told to, so a test can look at what reached it before that."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted, self.go = threading.Event(), threading.Event()
        self.conn: socket.socket | None = None
        self.request = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def waiting_bytes(self) -> int:
        try:
            return len(self.conn.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            return 0

    def _serve(self) -> None:
        self.conn, _ = self.listener.accept()
        self.accepted.set()
        self.go.wait(10)
        while b"\r\n\r\n" not in self.request:
            self.request += self.conn.recv(65536)
        head, _, body = self.request.partition(b"\r\n\r\n")
        length = int(
            next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")).split(b":")[1]
        )
        while len(body) < length:
            body += self.conn.recv(65536)
        self.request = head + b"\r\n\r\n" + body
        answer = json.dumps({"name": "projects/loopback-project/messages/1"}).encode()
        self.conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer)
        )

    def close(self) -> None:
        self.go.set()
        self.thread.join(10)
        for sock in (self.conn, self.listener):
            if sock is not None:
                sock.close()


def test_the_hook_runs_on_a_connection_already_made_and_nothing_of_the_request_precedes_its_write(service_account):
    # Given an FCM endpoint that reads nothing until told to
    server = _OneRequestServer()
    service = PushService(service_account_path=service_account, endpoint=server.url, concurrency=1)
    seen = {}

    def before_send(tokens, write):
        # the connection is made before the hook runs (a connect that fails never runs it) ...
        seen["connected"] = server.accepted.wait(5)
        # ... and not one byte of the request (not even its headers) is out before write()
        seen["before_write"] = server.waiting_bytes()
        write()
        server.go.set()
        return True

    try:
        [outcome] = service.send([SendJob(key="n-1", payload=PAYLOAD, tokens=("tok-a",), before_send=before_send)])[
            "n-1"
        ]
    finally:
        service.close()
        server.close()

    # Then the whole request went by that write, and its answer was read
    assert seen == {"connected": True, "before_write": 0}
    assert server.request.startswith(b"POST /v1/projects/loopback-project/messages:send HTTP/1.1")
    assert json.loads(server.request.partition(b"\r\n\r\n")[2])["message"]["token"] == "tok-a"
    assert (outcome.kind, outcome.message_id) == (SENT, "projects/loopback-project/messages/1")


def test_a_connection_that_cannot_be_made_runs_no_hook(service_account):
    # Given an FCM endpoint where nothing listens
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed_port = probe.getsockname()[1]
    service = PushService(service_account_path=service_account, endpoint=f"http://127.0.0.1:{closed_port}")
    calls = []
    try:
        assert service.warm_up()
        job = SendJob(key="n-1", payload=PAYLOAD, tokens=("tok-a",), before_send=lambda t, write: calls.append(t))
        [outcome] = service.send([job])["n-1"]
    finally:
        service.close()

    # Then the device was never marked: nothing could have been written
    assert outcome.kind == TRANSIENT and calls == []


def test_every_connection_pool_of_the_sdk_session_makes_wire_connections(push_service):
    session = messaging._get_messaging_service(push_service.app)._client.session

    for adapter in session.adapters.values():
        assert adapter.poolmanager.pool_classes_by_scheme == _WIRE_POOLS
        assert adapter.proxy_manager_for("http://127.0.0.1:3128").pool_classes_by_scheme == _WIRE_POOLS


def test_fcm_down_is_transient_and_opens_the_circuit(fcm, service_account):
    breaker = CircuitBreaker("fcm-test", failure_threshold=1, reset_seconds=30)
    service = PushService(service_account_path=service_account, endpoint=fcm.url, breaker=breaker)
    try:
        assert service.warm_up()
        fcm.stop()  # connection refused from now on

        [outcome] = send(service, "tok-a")
        assert outcome.kind == TRANSIENT

        with pytest.raises(FcmUnavailable) as exc_info:
            send(service, "tok-a")
        assert 0 < exc_info.value.retry_after <= 30
    finally:
        service.close()


def test_token_endpoint_down_is_fcm_unavailable(tmp_path):
    with LoopbackFCMServer() as server:
        path = tmp_path / "sa.json"
        server.write_service_account(str(path))
        service = PushService(service_account_path=str(path), endpoint=server.url)
    try:
        assert not service.warm_up()  # logged, the worker still starts
        with pytest.raises(FcmUnavailable, match="token fetch failed"):
            send(service, "tok-a")
    finally:
        service.close()


def test_no_connection_leaves_loopback_during_a_send(fcm, service_account, monkeypatch):
    """google-auth >= 2.55 starts a background "regional access boundary" lookup at
    iamcredentials.googleapis.com after a token refresh; PushService turns it off."""
    hosts = guard_loopback_only(monkeypatch)
    service = PushService(service_account_path=service_account, endpoint=fcm.url)
    try:
        service.warm_up()
        assert [o.kind for o in send(service, "tok-a", "tok-b")] == [SENT, SENT]
        for thread in threading.enumerate():  # let any background lookup run to its end
            if "RegionalAccessBoundary" in type(thread).__name__:
                thread.join(timeout=5)
    finally:
        service.close()

    assert hosts and all(h in LOOPBACK_HOSTS for h in hosts), hosts
