"""A loopback HTTP server speaking the FCM HTTP v1 send API and the Google OAuth2 token endpoint.

One fake server, one module (about 700 lines, most of it FCM's wire format: the error bodies
firebase-admin maps to its exceptions, the validation FCM applies, the OAuth2 grant it checks).
Its state, its HTTP handler and its CLI change together whenever FCM's behaviour is copied
more closely, and nothing else imports their parts, so they are not split.

The unmodified ``firebase-admin`` SDK talks to it when

1. the app's credential is a service-account key whose ``token_uri`` is ``server.token_uri``
   (see :func:`notification_devtools.loopback.service_account.write_service_account`), and
2. ``firebase_admin.messaging._MessagingService.FCM_URL`` is set to
   ``server.fcm_url_template`` *before* the app's messaging service is first created (the SDK
   formats it with the project id in ``_MessagingService.__init__``; there is no env var or
   emulator setting for messaging).

Endpoints::

    POST /token                                      OAuth2 jwt-bearer grant -> access token
    POST /v1/projects/{project_id}/messages:send     FCM v1 send
    GET  /_loopback/messages[?token=T]               accepted messages (JSON list)
    DELETE /_loopback/messages                       forget them
    POST /_loopback/outcomes  {"token": T, "outcome": "UNREGISTERED", "times": n, "retry_after": 1}
    DELETE /_loopback/outcomes                       forget scripted outcomes
    POST /_loopback/outage  {"seconds": 600, "outcome": "UNAVAILABLE"}
                                                     every send fails so for that long
    DELETE /_loopback/outage                         end the outage now
    GET  /_loopback/health                           (with "outage_remaining" seconds and
                                                     "outage_refusals", the sends refused)

A timed outage (``start_outage``) answers every send, whatever the token, with the outcome
(UNAVAILABLE by default) until the seconds have passed on the server's clock; then sends
succeed again by themselves. It takes precedence over scripted and prefix outcomes, and
it is what the chaos suite uses for "FCM answers 503 for 10 minutes".

Scripted per-token outcomes (``set_outcome`` or ``POST /_loopback/outcomes``), answered
with the real FCM v1 error JSON so firebase-admin maps them to its exception classes:

    =====================  ====  ===================  ======================================
    outcome                HTTP  status               firebase_admin exception
    =====================  ====  ===================  ======================================
    UNREGISTERED           404   NOT_FOUND            messaging.UnregisteredError
    INVALID_ARGUMENT       400   INVALID_ARGUMENT     exceptions.InvalidArgumentError
    SENDER_ID_MISMATCH     403   PERMISSION_DENIED    messaging.SenderIdMismatchError
    QUOTA_EXCEEDED         429   RESOURCE_EXHAUSTED   messaging.QuotaExceededError
    UNAVAILABLE            503   UNAVAILABLE          exceptions.UnavailableError
    INTERNAL               500   INTERNAL             exceptions.InternalError
    =====================  ====  ===================  ======================================

Retries made by the SDK itself (firebase-admin 7.7, ``_http_client.DEFAULT_RETRY_CONFIG``,
urllib3 ``Retry(status=4, status_forcelist=[500, 503], backoff_factor=0.5)``):

* 500 and 503 are retried 4 times with backoff 0, 1, 2, 4 s (about 7 s) before the SDK
  reports INTERNAL / UNAVAILABLE. Every HTTP attempt consumes one of ``times``: with
  ``set_outcome(t, "UNAVAILABLE", times=1)`` the SDK's first retry succeeds and the caller
  sees success; ``times>=5`` (or ``None``) makes the caller see ``UnavailableError``.
* 429 *with a Retry-After header* is retried too (urllib3 honours Retry-After for 413/429/503),
  sleeping Retry-After seconds each time, up to 4 times. ``QUOTA_EXCEEDED`` sends
  ``Retry-After: <retry_after>`` (default 1 s; ``retry_after=0``/``None`` omits the header, and
  then the SDK does not retry and raises ``QuotaExceededError`` at once).

Token-prefix rules (no scripting call needed, for CLI / e2e users): a token (or fid) starting
with ``unregistered-`` always answers UNREGISTERED, ``invalid-`` INVALID_ARGUMENT,
``unavailable-`` UNAVAILABLE. Scripted outcomes take precedence over prefix rules.

Validation like FCM: exactly one target (token, fid, topic, condition); ``data`` must be an
object of string values; the message payload (the message JSON without its target fields,
UTF-8, compact) must not exceed 4096 bytes. Failures answer 400 INVALID_ARGUMENT.

CLI::

    python -m notification_devtools.loopback.fcm --host 127.0.0.1 --port 9099 \
        [--write-service-account PATH [--project-id ID]] [--trust-service-account PATH ...]
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import logging
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from notification_devtools.loopback.outage import TimedOutage

__all__ = ["LoopbackFCMServer", "OUTCOMES", "TOKEN_PREFIX_OUTCOMES"]

logger = logging.getLogger(__name__)

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
MAX_PAYLOAD_BYTES = 4096
ACCESS_TOKEN_PREFIX = "loopback-"
TARGET_FIELDS = ("token", "fid", "topic", "condition")

# outcome -> (HTTP status, google.rpc status, message). Messages are those real FCM sends.
OUTCOMES: dict[str, tuple[int, str, str]] = {
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Send requests'"),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
}
VALID_OUTCOMES = frozenset({"ok", *OUTCOMES})

TOKEN_PREFIX_OUTCOMES: dict[str, str] = {
    "unregistered-": "UNREGISTERED",
    "invalid-": "INVALID_ARGUMENT",
    "unavailable-": "UNAVAILABLE",
}

_SEND_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class _Script:
    __slots__ = ("outcome", "remaining", "retry_after")

    def __init__(self, outcome: str, remaining: int | None, retry_after: int | None):
        self.outcome = outcome
        self.remaining = remaining
        self.retry_after = retry_after


class LoopbackFCMServer:
    """Threaded loopback FCM v1 + OAuth token server. All public methods are thread-safe."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        require_known_keys: bool = False,
        on_message: Callable[[dict], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.host = host
        self.port = port
        # When True, /token only accepts assertions signed by a trusted service account.
        # When False, an unknown key's assertion is decoded and its claims checked, but its
        # signature cannot be verified (there is no public key to verify it with).
        self.require_known_keys = require_known_keys
        self.max_payload_bytes = MAX_PAYLOAD_BYTES
        self._on_message = on_message
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._messages: list[dict] = []
        self._scripts: dict[str, _Script] = {}
        self._attempts: dict[str, int] = {}
        self._keys_by_id: dict[str, object] = {}
        self._keys_by_email: dict[str, object] = {}
        self._tokens_issued = 0
        # A timed outage answers every send with its outcome (on ``clock``; tests inject one).
        self._outage: TimedOutage[str] = TimedOutage(clock)
        self._seq = itertools.count(1)
        self._httpd: _FCMHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> LoopbackFCMServer:
        if self._httpd is not None:
            return self
        httpd = _FCMHTTPServer((self.host, self.port), _FCMHandler)
        httpd.fcm = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"loopback-fcm-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()  # idle keep-alive connections would otherwise still be served
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LoopbackFCMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    @property
    def fcm_url_template(self) -> str:
        """Same format as ``firebase_admin.messaging._MessagingService.FCM_URL``."""
        return f"{self.url}/v1/projects/{{0}}/messages:send"

    # ----------------------------------------------------------------- service accounts
    def trust_service_account(self, info: dict | str) -> None:
        """Remember a service account's public key (``info``: the key dict or a path to the
        JSON file) so /token verifies the RS256 signature of its assertions."""
        if isinstance(info, str):
            with open(info, encoding="utf-8") as fh:
                info = json.load(fh)
        private_key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        public_key = private_key.public_key()
        with self._lock:
            if info.get("private_key_id"):
                self._keys_by_id[info["private_key_id"]] = public_key
            if info.get("client_email"):
                self._keys_by_email[info["client_email"]] = public_key

    def write_service_account(self, path: str, *, project_id: str = "loopback-project") -> dict:
        """Write a service-account key file pointing at this server and trust it."""
        from notification_devtools.loopback.service_account import write_service_account

        info = write_service_account(path, token_uri=self.token_uri, project_id=project_id)
        self.trust_service_account(info)
        return info

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return self._tokens_issued

    # ----------------------------------------------------------------- outcomes
    def set_outcome(self, token: str, outcome: str, times: int | None = None, *, retry_after: int | None = 1) -> None:
        """Script the answer for sends to ``token``: ``outcome`` for the next ``times`` HTTP
        attempts (forever if ``None``), then ``ok``. ``retry_after`` is the Retry-After header
        sent with QUOTA_EXCEEDED (``0``/``None``: no header)."""
        if outcome not in VALID_OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {sorted(VALID_OUTCOMES)}")
        if times is not None and int(times) < 0:
            raise ValueError("times must be >= 0 or None")
        with self._lock:
            if outcome == "ok":
                self._scripts.pop(token, None)
            else:
                self._scripts[token] = _Script(
                    outcome, None if times is None else int(times), int(retry_after) if retry_after else None
                )

    def clear_outcomes(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._outage.end()

    def start_outage(self, seconds: float, outcome: str = "UNAVAILABLE") -> None:
        """Answer every send with ``outcome`` for the next ``seconds`` seconds, then recover by
        itself; ``seconds <= 0`` ends the outage now."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {sorted(OUTCOMES)}")
        with self._lock:
            self._outage.start(seconds, outcome)

    @property
    def outage_remaining(self) -> float:
        """Seconds left of the current timed outage (0.0 when there is none)."""
        with self._lock:
            return self._outage.remaining

    @property
    def outage_refusals(self) -> int:
        """How many send attempts timed outages have refused since the server started."""
        with self._lock:
            return self._outage.refusals

    def attempts(self, token: str | None = None) -> int:
        """HTTP send attempts seen for ``token`` (all tokens if ``None``), successful or not."""
        with self._lock:
            if token is None:
                return sum(self._attempts.values())
            return self._attempts.get(token, 0)

    def _next_outcome(self, token: str | None) -> tuple[str, int | None]:
        """Return (outcome, retry_after) for one HTTP attempt and count the attempt."""
        with self._lock:
            if token is None:
                return "ok", None
            self._attempts[token] = self._attempts.get(token, 0) + 1
            outage = self._outage.refuse()
            if outage is not None:
                return outage, None
            script = self._scripts.get(token)
            if script is not None:
                if script.remaining is None:
                    return script.outcome, script.retry_after
                if script.remaining > 0:
                    script.remaining -= 1
                    if script.remaining == 0:
                        del self._scripts[token]
                    return script.outcome, script.retry_after
                del self._scripts[token]
        for prefix, outcome in TOKEN_PREFIX_OUTCOMES.items():
            if token.startswith(prefix):
                return outcome, None
        return "ok", None

    # ----------------------------------------------------------------- messages
    def _record(self, token: str | None, message: dict, project_id: str) -> dict:
        seq = next(self._seq)
        message_id = f"0:{time.time_ns() // 1000}%{seq:08x}{secrets.token_hex(4)}"
        record = {
            "name": f"projects/{project_id}/messages/{message_id}",
            "token": token,
            "topic": message.get("topic"),
            "condition": message.get("condition"),
            "message": message,
            "received_at": _now_iso(),
        }
        with self._cond:
            self._messages.append(record)
            self._cond.notify_all()
        if self._on_message is not None:
            try:
                self._on_message(record)
            except Exception:
                logger.exception("on_message callback failed")
        return record

    @property
    def messages(self) -> list[dict]:
        with self._lock:
            return list(self._messages)

    def messages_for(self, token: str) -> list[dict]:
        return [m for m in self.messages if m["token"] == token]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Block until at least ``count`` messages were accepted; return them all.
        Raises ``TimeoutError`` otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"expected {count} message(s) within {timeout}s, got {len(self._messages)}")
            return list(self._messages)

    def clear(self) -> int:
        with self._lock:
            n = len(self._messages)
            self._messages.clear()
            self._attempts.clear()
            return n

    # ----------------------------------------------------------------- request logic
    def _issue_token(self, form: dict[str, str]) -> tuple[int, dict]:
        """Validate a jwt-bearer grant; return (status, OAuth JSON body)."""
        if form.get("grant_type") != JWT_BEARER_GRANT:
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": f"grant_type must be {JWT_BEARER_GRANT}",
            }
        try:
            claims = self._verify_assertion(form.get("assertion", ""))
        except ValueError as exc:
            return 400, {"error": "invalid_grant", "error_description": str(exc)}
        with self._lock:
            self._tokens_issued += 1
        logger.debug("issued token for %s", claims.get("iss"))
        return 200, {
            "access_token": ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(24),
            "expires_in": 3600,
            "token_type": "Bearer",
        }

    def _verify_assertion(self, assertion: str) -> dict:
        parts = assertion.split(".")
        if len(parts) != 3:
            raise ValueError("assertion is not a JWT")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, TypeError) as exc:
            raise ValueError(f"malformed JWT: {exc}") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise ValueError("malformed JWT")
        if header.get("alg") != "RS256":
            raise ValueError("JWT must be signed with RS256")
        for claim in ("iss", "aud", "scope", "iat", "exp"):
            if not claims.get(claim):
                raise ValueError(f"JWT lacks the {claim!r} claim")
        now = time.time()
        if not (float(claims["iat"]) - 300 <= now <= float(claims["exp"]) + 300):
            raise ValueError("JWT is not valid at this time")
        with self._lock:
            key = self._keys_by_id.get(header.get("kid")) or self._keys_by_email.get(claims["iss"])
        if key is None:
            if self.require_known_keys:
                raise ValueError("unknown signing key")
            return claims
        try:
            key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise ValueError("invalid JWT signature") from None
        return claims

    def _send(self, project_id: str, authorization: str | None, raw_body: bytes) -> tuple[int, dict, dict[str, str]]:
        """Handle one FCM v1 send; return (status, body, extra headers)."""
        if not authorization or not authorization.startswith("Bearer " + ACCESS_TOKEN_PREFIX):
            return (
                401,
                _error_body(
                    401,
                    "UNAUTHENTICATED",
                    "Request is missing required authentication credential. Expected OAuth 2 access "
                    "token, login cookie or other valid authentication credential.",
                ),
                {},
            )
        try:
            body = json.loads(raw_body or b"null")
        except ValueError:
            return _invalid("Invalid JSON payload received.")
        if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
            return _invalid("Invalid JSON payload received. Missing 'message'.")
        message = body["message"]
        targets = [f for f in TARGET_FIELDS if message.get(f)]
        if len(targets) != 1:
            return _invalid("Exactly one of token, topic or condition must be specified.", field="message")
        data = message.get("data")
        if data is not None:
            if not isinstance(data, dict):
                return _invalid("Invalid value at 'message.data'", field="message.data")
            for key, value in data.items():
                if not isinstance(value, str):
                    return _invalid(
                        f"Invalid value at 'message.data[{key}].value' (TYPE_STRING), {json.dumps(value)}",
                        field=f"message.data[{key}].value",
                    )
        payload = {k: v for k, v in message.items() if k not in TARGET_FIELDS}
        size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if size > self.max_payload_bytes:
            return _invalid(f"Message is too big ({size} bytes, limit {self.max_payload_bytes})", field="message")
        token = message.get("token") or message.get("fid")
        outcome, retry_after = self._next_outcome(token)
        if outcome != "ok":
            status, rpc_status, text = OUTCOMES[outcome]
            headers = {"Retry-After": str(retry_after)} if (outcome == "QUOTA_EXCEEDED" and retry_after) else {}
            return status, _error_body(status, rpc_status, text, fcm_code=outcome), headers
        if body.get("validate_only"):
            # FCM answers dry runs with a fixed fake id and delivers nothing.
            return 200, {"name": f"projects/{project_id}/messages/fake_message_id"}, {}
        record = self._record(token, message, project_id)
        return 200, {"name": record["name"]}, {}


def _error_body(code: int, status: str, message: str, *, fcm_code: str | None = None, field: str | None = None) -> dict:
    error: dict = {"code": code, "message": message, "status": status}
    details = []
    if fcm_code:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": fcm_code})
    if field:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            }
        )
    if details:
        error["details"] = details
    return {"error": error}


def _invalid(message: str, *, field: str | None = None) -> tuple[int, dict, dict[str, str]]:
    return 400, _error_body(400, "INVALID_ARGUMENT", message, fcm_code="INVALID_ARGUMENT", field=field), {}


class _FCMHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5; firebase-admin opens up to one connection
    # per token of a multicast (its pool for http:// URLs keeps only 10), so bursts of
    # hundreds of connects must not overflow the backlog (overflow = 1 s SYN retransmits).
    request_queue_size = 1024
    fcm: LoopbackFCMServer

    def __init__(self, *args, **kwargs):
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def track(self, conn: socket.socket, opened: bool) -> None:
        with self._open_lock:
            (self._open.add if opened else self._open.discard)(conn)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client went away; not worth a traceback
        logger.exception("loopback FCM: error handling a request from %s", client_address)

    def close_connections(self) -> None:
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _FCMHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK's requests session reuses connections
    disable_nagle_algorithm = True
    timeout = 300  # idle keep-alive connections are dropped after this
    server: _FCMHTTPServer

    def setup(self):
        super().setup()
        self.server.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        logger.debug("fcm %s " + format, self.address_string(), *args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, payload, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        fcm = self.server.fcm
        path = urlsplit(self.path).path
        raw = self._body()
        match = _SEND_PATH.match(path)
        if match:
            status, payload, headers = fcm._send(match["project"], self.headers.get("Authorization"), raw)
            self._reply(status, payload, headers)
        elif path == "/token":
            form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
            status, payload = fcm._issue_token(form)
            self._reply(status, payload, {"Cache-Control": "no-store"})
        elif path == "/_loopback/outage":
            try:
                spec = json.loads(raw or b"{}")
                fcm.start_outage(float(spec["seconds"]), spec.get("outcome", "UNAVAILABLE"))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                self._reply(400, {"error": str(exc)})
                return
            self._reply(200, {"ok": True, "outage_remaining": round(fcm.outage_remaining, 3)})
        elif path == "/_loopback/outcomes":
            try:
                spec = json.loads(raw or b"{}")
                fcm.set_outcome(
                    spec["token"], spec["outcome"], spec.get("times"), retry_after=spec.get("retry_after", 1)
                )
            except (ValueError, TypeError, KeyError) as exc:
                self._reply(400, {"error": str(exc)})
                return
            self._reply(200, {"ok": True})
        else:
            self._reply(404, _error_body(404, "NOT_FOUND", f"Unknown path {path}"))

    def do_GET(self):  # noqa: N802
        fcm = self.server.fcm
        url = urlsplit(self.path)
        if url.path == "/_loopback/messages":
            token = parse_qs(url.query).get("token", [None])[-1]
            self._reply(200, fcm.messages_for(token) if token is not None else fcm.messages)
        elif url.path == "/_loopback/health":
            self._reply(
                200,
                {
                    "status": "ok",
                    "messages": len(fcm.messages),
                    "tokens_issued": fcm.tokens_issued,
                    "outage_remaining": round(fcm.outage_remaining, 3),
                    "outage_refusals": fcm.outage_refusals,
                },
            )
        else:
            self._reply(404, _error_body(404, "NOT_FOUND", f"Unknown path {url.path}"))

    def do_DELETE(self):  # noqa: N802
        fcm = self.server.fcm
        path = urlsplit(self.path).path
        if path == "/_loopback/messages":
            self._reply(200, {"deleted": fcm.clear()})
        elif path == "/_loopback/outcomes":
            fcm.clear_outcomes()
            self._reply(200, {"ok": True})
        elif path == "/_loopback/outage":
            fcm.start_outage(0)
            self._reply(200, {"ok": True, "outage_remaining": 0.0})
        else:
            self._reply(404, _error_body(404, "NOT_FOUND", f"Unknown path {path}"))


# --------------------------------------------------------------------------- CLI
def _print_message(record: dict) -> None:
    message = record["message"]
    if record["token"]:
        target = record["token"]
    elif record["topic"]:
        target = f"topic:{record['topic']}"
    else:
        target = f"condition:{record['condition']}"
    notification = message.get("notification") or {}
    data = message.get("data") or {}
    nid = data.get("notification_id") or data.get("notificationId")
    line = f"[fcm] to={target} title={notification.get('title')!r}"
    if nid:
        line += f" notification_id={nid}"
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m notification_devtools.loopback.fcm", description="Loopback FCM HTTP v1 + OAuth token server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9099)
    parser.add_argument(
        "--write-service-account",
        metavar="PATH",
        help="write a service-account key whose token_uri points here, and trust it",
    )
    parser.add_argument("--project-id", default="loopback-project")
    parser.add_argument(
        "--trust-service-account",
        metavar="PATH",
        action="append",
        default=[],
        help="verify assertions of this service-account key file (repeatable)",
    )
    parser.add_argument(
        "--require-known-keys", action="store_true", help="reject token requests signed by keys not trusted"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    server = LoopbackFCMServer(
        args.host, args.port, require_known_keys=args.require_known_keys, on_message=_print_message
    )
    server.start()
    for path in args.trust_service_account:
        server.trust_service_account(path)
    if args.write_service_account:
        server.write_service_account(args.write_service_account, project_id=args.project_id)
        print(f"[fcm] wrote service account {args.write_service_account}", flush=True)
    print(f"[fcm] listening on {server.url} (FCM URL template {server.fcm_url_template})", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
        print("[fcm] stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
