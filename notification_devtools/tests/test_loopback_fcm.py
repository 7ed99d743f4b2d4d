"""The loopback FCM server, driven by the unmodified firebase-admin SDK (and raw HTTP).

The SDK is pointed at the loopback by configuration only:
* the credential is a service-account key whose ``token_uri`` is the loopback ``/token``;
* ``messaging._MessagingService.FCM_URL`` is set to the loopback template before the app's
  messaging service is created (see ``_point_messaging_at``).
"""

from __future__ import annotations

import itertools
import json
import signal
import socket
import subprocess
import sys
import threading
import time

import firebase_admin
import jwt
import pytest
import requests
from firebase_admin import _utils, credentials, exceptions, messaging

from notification_common.firebase_offline import disable_background_lookups
from notification_devtools.loopback.fcm import OUTCOMES, LoopbackFCMServer
from notification_devtools.loopback.service_account import generate_service_account
from notification_devtools.testing.network import LOOPBACK_HOSTS, guard_loopback_only

pytestmark = pytest.mark.filterwarnings(
    "ignore:MulticastMessage.tokens is deprecated:DeprecationWarning",
    "ignore:Message.token is deprecated:DeprecationWarning",
)

_app_names = itertools.count()


def _point_messaging_at(server: LoopbackFCMServer, monkeypatch) -> None:
    """Send the SDK's FCM requests to the loopback server.

    firebase-admin has no setting for the messaging endpoint. ``_MessagingService.__init__``
    formats the class attribute ``FCM_URL`` with the project id, once, when an app's
    messaging service is first created (on the app's first messaging call). So the attribute
    must be patched before that, and each test uses a fresh app. It is a private attribute:
    ``test_sdk_private_fcm_url_attribute_still_exists`` guards it.
    """
    monkeypatch.setattr(messaging._MessagingService, "FCM_URL", server.fcm_url_template)


@pytest.fixture
def fcm():
    with LoopbackFCMServer(require_known_keys=True) as server:
        yield server


@pytest.fixture
def make_app(fcm, tmp_path, monkeypatch):
    """Factory for a fresh named firebase app whose credential points at the loopback."""
    apps = []

    def make(*, offline: bool = True):
        _point_messaging_at(fcm, monkeypatch)
        path = tmp_path / f"service-account-{len(apps)}.json"
        fcm.write_service_account(str(path), project_id="loopback-project")
        cred = credentials.Certificate(str(path))
        if offline:
            disable_background_lookups(cred)
        app = firebase_admin.initialize_app(cred, name=f"loopback-test-{next(_app_names)}")
        apps.append(app)
        return app

    yield make
    for app in apps:
        firebase_admin.delete_app(app)


@pytest.fixture
def app(make_app):
    return make_app()


def _raw_send(fcm: LoopbackFCMServer, message: dict, *, auth: str | None = "Bearer loopback-raw"):
    headers = {"Authorization": auth} if auth else {}
    return requests.post(
        fcm.fcm_url_template.format("loopback-project"), json={"message": message}, headers=headers, timeout=5
    )


def test_sdk_private_fcm_url_attribute_still_exists():
    template = messaging._MessagingService.FCM_URL
    assert template.format("p") == "https://fcm.googleapis.com/v1/projects/p/messages:send"
    loopback = LoopbackFCMServer(port=1234)
    assert loopback.fcm_url_template.format("p") == "http://127.0.0.1:1234/v1/projects/p/messages:send"


def test_multicast_to_three_tokens_arrives(fcm, app):
    # google-auth does not serialise token refreshes: concurrent first sends from the SDK's
    # thread pool would each fetch a token. Fetching one up front avoids that herd.
    app.credential.get_access_token()
    assert fcm.tokens_issued == 1
    tokens = ["tok-a", "tok-b", "tok-c"]
    response = messaging.send_each_for_multicast(
        messaging.MulticastMessage(
            tokens=tokens,
            data={"notification_id": "n-1"},
            notification=messaging.Notification(title="Hi", body="There"),
        ),
        app=app,
    )

    assert response.success_count == 3
    assert all(r.message_id.startswith("projects/loopback-project/messages/") for r in response.responses)
    received = fcm.wait_for(3)
    assert sorted(m["token"] for m in received) == tokens
    assert received[0]["message"]["data"] == {"notification_id": "n-1"}
    assert received[0]["message"]["notification"] == {"title": "Hi", "body": "There"}
    assert fcm.tokens_issued == 1  # verified against the trusted key, then reused


def test_unregistered_token_maps_to_unregistered_error(fcm, app):
    fcm.set_outcome("tok-gone", "UNREGISTERED")
    response = messaging.send_each_for_multicast(
        messaging.MulticastMessage(tokens=["tok-a", "tok-gone", "tok-c"], data={"k": "v"}), app=app
    )

    assert response.success_count == 2
    failed = response.responses[1]
    assert not failed.success
    assert isinstance(failed.exception, messaging.UnregisteredError)
    assert failed.exception.http_response.status_code == 404
    assert sorted(m["token"] for m in fcm.messages) == ["tok-a", "tok-c"]


def test_token_prefix_rules_and_sender_id_mismatch(fcm, app):
    fcm.set_outcome("tok-other-sender", "SENDER_ID_MISMATCH")
    response = messaging.send_each_for_multicast(
        messaging.MulticastMessage(
            tokens=["unregistered-1", "invalid-1", "tok-other-sender", "tok-ok"], data={"k": "v"}
        ),
        app=app,
    )
    kinds = [type(r.exception) if r.exception else None for r in response.responses]
    assert kinds == [
        messaging.UnregisteredError,
        exceptions.InvalidArgumentError,
        messaging.SenderIdMismatchError,
        None,
    ]


def test_quota_exceeded_maps_to_quota_exceeded_error(fcm, app):
    # Without Retry-After the SDK does not retry a 429.
    fcm.set_outcome("tok-q", "QUOTA_EXCEEDED", retry_after=None)
    with pytest.raises(messaging.QuotaExceededError):
        messaging.send(messaging.Message(token="tok-q", data={"k": "v"}), app=app)
    assert fcm.attempts("tok-q") == 1


def test_sdk_retries_429_with_retry_after_and_503_itself(fcm, app):
    # urllib3 honours Retry-After on 429: the SDK sleeps (1 s here) and retries by itself.
    fcm.set_outcome("tok-q", "QUOTA_EXCEEDED", times=1, retry_after=1)
    # 503 is in the SDK's status_forcelist; the first retry has no backoff.
    fcm.set_outcome("tok-u", "UNAVAILABLE", times=1)
    response = messaging.send_each_for_multicast(
        messaging.MulticastMessage(tokens=["tok-q", "tok-u"], data={"k": "v"}), app=app
    )
    assert response.success_count == 2
    assert fcm.attempts("tok-q") == 2 and fcm.attempts("tok-u") == 2


def test_oversized_payload_is_rejected(fcm, app):
    with pytest.raises(exceptions.InvalidArgumentError, match="too big"):
        messaging.send(messaging.Message(token="tok-a", data={"blob": "x" * 5000}), app=app)
    assert fcm.messages == []


def test_dry_run_and_topic(fcm, app):
    assert messaging.send(messaging.Message(token="tok-a"), dry_run=True, app=app).endswith("/fake_message_id")
    messaging.send(messaging.Message(topic="news", data={"k": "v"}), app=app)
    [record] = fcm.wait_for(1)
    assert record["token"] is None and record["topic"] == "news"


def test_no_connection_leaves_loopback_during_send(fcm, make_app, monkeypatch):
    """Nothing the SDK does while sending (its own threads included) leaves loopback.

    google-auth >= 2.55 may look up a "regional access boundary" at a Google host in a
    background thread after a token refresh; whether it does depends on its version and
    its own clock, so the test does not rely on it happening. It checks our guarantee
    instead: every host asked for, by any thread, during and after the send, is loopback.
    """
    hosts = guard_loopback_only(monkeypatch)
    before = set(threading.enumerate())

    response = messaging.send_each_for_multicast(
        messaging.MulticastMessage(tokens=["tok-a", "tok-b"], data={"k": "v"}), app=make_app()
    )

    assert response.success_count == 2
    for thread in set(threading.enumerate()) - before:  # let background work run to its end
        thread.join(timeout=5)
    assert hosts and all(h in LOOPBACK_HOSTS for h in hosts), hosts


def test_loopback_guard_sees_lookups_from_background_threads(monkeypatch):
    """Control for the test above: the guard records (and blocks) a non-loopback lookup made
    from another thread, so an empty record there means nothing tried to leave."""
    hosts = guard_loopback_only(monkeypatch)
    errors = []

    def lookup():
        try:
            socket.getaddrinfo("iamcredentials.googleapis.com", 443)
        except OSError as exc:
            errors.append(exc)

    thread = threading.Thread(target=lookup)
    thread.start()
    thread.join()

    assert hosts == ["iamcredentials.googleapis.com"]
    assert len(errors) == 1


@pytest.mark.parametrize(
    "outcome, expected",
    [
        ("UNREGISTERED", messaging.UnregisteredError),
        ("INVALID_ARGUMENT", exceptions.InvalidArgumentError),
        ("SENDER_ID_MISMATCH", messaging.SenderIdMismatchError),
        ("QUOTA_EXCEEDED", messaging.QuotaExceededError),
        ("UNAVAILABLE", exceptions.UnavailableError),
        ("INTERNAL", exceptions.InternalError),
    ],
)
def test_error_bodies_map_to_sdk_exceptions(fcm, outcome, expected):
    """Every scripted outcome, fed through the SDK's own error mapping (without its retries,
    which take ~7 s for 500/503)."""
    fcm.set_outcome("tok-x", outcome, times=1)
    response = _raw_send(fcm, {"token": "tok-x", "data": {"k": "v"}})
    status, rpc_status, _ = OUTCOMES[outcome]
    assert response.status_code == status
    error = response.json()["error"]
    assert error["status"] == rpc_status
    assert error["details"][0]["errorCode"] == outcome
    assert ("Retry-After" in response.headers) == (outcome == "QUOTA_EXCEEDED")
    with pytest.raises(requests.HTTPError) as exc_info:
        response.raise_for_status()
    mapped = _utils.handle_platform_error_from_requests(
        exc_info.value, messaging._MessagingService._build_fcm_error_requests
    )
    assert type(mapped) is expected
    # times=1: the next attempt succeeds
    assert _raw_send(fcm, {"token": "tok-x", "data": {"k": "v"}}).status_code == 200


def test_raw_validation_non_string_data_no_target_and_auth(fcm):
    response = _raw_send(fcm, {"token": "tok-a", "data": {"count": 3}})
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert response.json()["error"]["details"][0] == {
        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
        "errorCode": "INVALID_ARGUMENT",
    }

    assert _raw_send(fcm, {"data": {"k": "v"}}).status_code == 400
    assert _raw_send(fcm, {"token": "a", "topic": "b"}).status_code == 400

    unauthenticated = _raw_send(fcm, {"token": "tok-a"}, auth=None)
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["status"] == "UNAUTHENTICATED"
    assert _raw_send(fcm, {"token": "tok-a"}, auth="Bearer someone-else").status_code == 401
    assert fcm.messages == []


def test_token_endpoint_verifies_assertions(fcm):
    trusted = generate_service_account(token_uri=fcm.token_uri)
    fcm.trust_service_account(trusted)
    now = int(time.time())
    claims = {
        "iss": trusted["client_email"],
        "aud": fcm.token_uri,
        "iat": now,
        "exp": now + 3600,
        "scope": "https://www.googleapis.com/auth/firebase.messaging",
    }

    def grant(info):
        assertion = jwt.encode(claims, info["private_key"], algorithm="RS256", headers={"kid": info["private_key_id"]})
        return requests.post(
            fcm.token_uri,
            timeout=5,
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        )

    ok = grant(trusted)
    assert ok.status_code == 200
    assert ok.json()["access_token"].startswith("loopback-")
    assert ok.json()["token_type"] == "Bearer" and ok.json()["expires_in"] == 3600

    forged = dict(
        generate_service_account(token_uri=fcm.token_uri),
        client_email=trusted["client_email"],
        private_key_id=trusted["private_key_id"],
    )
    assert grant(forged).json()["error"] == "invalid_grant"  # signed with another key
    malformed = requests.post(
        fcm.token_uri,
        timeout=5,
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "not.a.jwt"},
    )
    assert malformed.status_code == 400


def test_http_control_api(fcm):
    base = f"{fcm.url}/_loopback"
    requests.post(
        f"{base}/outcomes", json={"token": "tok-b", "outcome": "UNREGISTERED", "times": 1}, timeout=5
    ).raise_for_status()
    assert _raw_send(fcm, {"token": "tok-a", "data": {"k": "v"}}).status_code == 200
    assert _raw_send(fcm, {"token": "tok-b", "data": {"k": "v"}}).status_code == 404
    assert _raw_send(fcm, {"token": "tok-b", "data": {"k": "v"}}).status_code == 200

    listed = requests.get(f"{base}/messages", timeout=5).json()
    assert [m["token"] for m in listed] == ["tok-a", "tok-b"]
    [only] = requests.get(f"{base}/messages", params={"token": "tok-a"}, timeout=5).json()
    assert only["message"]["data"] == {"k": "v"} and only["received_at"]
    assert requests.post(f"{base}/outcomes", json={"token": "t", "outcome": "NOPE"}, timeout=5).status_code == 400
    assert requests.delete(f"{base}/messages", timeout=5).json() == {"deleted": 2}
    assert requests.get(f"{base}/messages", timeout=5).json() == []


def test_cli_writes_service_account_and_prints_messages(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key_path = tmp_path / "sa.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "notification_devtools.loopback.fcm",
            "--port",
            str(port),
            "--write-service-account",
            str(key_path),
            "--require-known-keys",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "wrote service account" in proc.stdout.readline()
        assert "listening" in proc.stdout.readline()
        info = json.loads(key_path.read_text())
        assert info["token_uri"] == f"http://127.0.0.1:{port}/token"
        response = requests.post(
            f"http://127.0.0.1:{port}/v1/projects/p/messages:send",
            timeout=5,
            headers={"Authorization": "Bearer loopback-cli"},
            json={"message": {"token": "tok-cli", "notification": {"title": "T"}, "data": {"notification_id": "n-9"}}},
        )
        assert response.status_code == 200
        line = proc.stdout.readline()
        assert "to=tok-cli" in line and "notification_id=n-9" in line
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
