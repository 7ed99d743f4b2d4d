"""A real SMTP server on loopback (aiosmtpd), for tests, benchmarks, e2e and ``make dev``.

One fake server, one module (about 640 lines): the SMTP side, its failure scripts, the JSON
HTTP API another process reads it through and the CLI share one state (messages, rules,
outage) and change together, and nothing else imports their parts, so they are not split.

In-process use::

    with LoopbackSMTPServer() as smtp:          # port 0: a free port, see smtp.port
        ...send mail to 127.0.0.1:smtp.port...
        [msg] = smtp.wait_for(1, timeout=5)
        msg.subject, msg.text, msg.html, msg["X-Notification-ID"], msg.mail_from, msg.rcpt_tos

Failure injection (scripted SMTP replies, as a real relay would give them):

* ``fail_next(n, code=451, message=..., stage="rcpt")``: the next n RCPT TO (or DATA, with
  ``stage="data"``) commands are answered with that code. smtplib raises
  ``SMTPRecipientsRefused`` (RCPT, all recipients refused) or ``SMTPDataError`` (DATA).
* ``reject_recipient(address, code=550, ...)``: RCPT TO for that address always fails.
* ``set_down(True)``: the listener is closed (connections are refused, open sessions are
  dropped); ``set_down(False)`` listens again on the same port.
* ``start_outage(seconds, code=451, ...)``: a timed provider outage: every RCPT TO (or DATA)
  is answered with that code until ``seconds`` have passed on the server's clock, then mail
  flows again by itself (the chaos suite's "SMTP answers 451 for 10 minutes").

Another process can see what arrived through ``maildir`` (one ``.eml`` file per message,
written atomically, envelope in ``X-Loopback-Mail-From`` / ``X-Loopback-Rcpt-To`` headers
prepended to the file) or through the JSON HTTP API (``http_port``)::

    GET    /messages[?notification_id=X][&to=ADDR]  -> [{id, from, to, subject, headers,
                                                        text, html, notification_id, received_at}]
    DELETE /messages                                -> {"deleted": n}
    POST   /control  {"fail_next": n, "code": 451, "message": "...", "stage": "rcpt"|"data"}
                     {"down": true|false}
                     {"reject": "addr", "code": 550, "message": "..."}
                     {"outage_seconds": 600, "code": 451, "message": "...", "stage": "rcpt"}
                                                     (0 ends an outage at once)
                     {"reset": true}                 (clear failure rules and outages, bring it up)
    GET    /health                                  -> {"status": "ok", "down": false,
                                                        "outage_remaining": 0.0, "outage_refusals": 0, ...}

CLI::

    python -m notification_devtools.loopback.smtp --host 127.0.0.1 --port 1025 \
        [--maildir DIR] [--http-port 8025]
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import itertools
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

from notification_devtools.loopback.outage import TimedOutage

__all__ = ["LoopbackSMTPServer", "ReceivedMessage", "SMTPControlHTTPServer"]

logger = logging.getLogger(__name__)

# Greeting host name. Passing it stops aiosmtpd from calling socket.getfqdn(), which can
# block on a reverse DNS lookup on an offline machine.
_SERVER_HOSTNAME = "loopback-smtp.localhost"


@dataclass(frozen=True, eq=False)
class ReceivedMessage:
    """One message accepted by the server: its SMTP envelope and the message itself.

    ``message`` is the ``EmailMessage`` (``email.policy.default``). It is parsed on first
    access, not in the SMTP server's event loop, so a benchmark that never looks at the
    messages does not pay for parsing; header lookups only parse the header block.
    """

    id: int
    mail_from: str
    rcpt_tos: tuple[str, ...]
    received_at: datetime
    raw: bytes = field(repr=False)

    @cached_property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(_unix_newlines(self.raw), policy=email.policy.default)

    @cached_property
    def _header_block(self) -> EmailMessage:
        if "message" in self.__dict__:
            return self.__dict__["message"]
        return BytesHeaderParser(policy=email.policy.default).parsebytes(_unix_newlines(self.raw))

    def __getitem__(self, name: str):
        return self._header_block[name]

    def get(self, name: str, default=None):
        return self._header_block.get(name, default)

    @property
    def subject(self) -> str | None:
        return self._header_block["Subject"]

    @property
    def notification_id(self) -> str | None:
        return self._header_block["X-Notification-ID"]

    @property
    def text(self) -> str | None:
        return _body(self.message, "plain")

    @property
    def html(self) -> str | None:
        return _body(self.message, "html")

    @property
    def headers(self) -> dict[str, str]:
        """Header name -> value (the first occurrence of a repeated header)."""
        result: dict[str, str] = {}
        for name, value in self._header_block.items():
            result.setdefault(name, str(value))
        return result

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "from": self.mail_from,
            "to": list(self.rcpt_tos),
            "subject": self.subject,
            "notification_id": self.notification_id,
            "headers": self.headers,
            "text": self.text,
            "html": self.html,
            "received_at": self.received_at.isoformat(),
        }


def _unix_newlines(raw: bytes) -> bytes:
    # SMTP carries CRLF line ends; the email package wants "\n" (else text parts keep "\r").
    return raw.replace(b"\r\n", b"\n")


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        return part.get_content()
    except (LookupError, ValueError):  # unknown charset / undecodable part
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


class _Handler:
    """aiosmtpd handler. Plain attributes and methods only: aiosmtpd walks dir(handler) and
    getattr()s everything on every connection, so no properties here."""

    def __init__(self, owner: LoopbackSMTPServer):
        self._owner = owner

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self._owner._rcpt_reply(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self._owner._data_reply()
        if reply is not None:
            return reply
        self._owner._store(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content or envelope.content)
        hold = self._owner._take_reply_hold()
        if hold is not None:
            received, release = hold
            received.set()
            # Off the event loop: other sessions go on while this one's answer waits.
            await asyncio.get_running_loop().run_in_executor(None, release.wait, 30)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd Controller that supports port 0 (learns the bound port before its self-test
    connection) and re-binding the same port after a stop."""

    def _create_server(self):
        async def create():
            server = await self.loop.create_server(
                self._factory_invoker,
                host=self.hostname,
                port=self.port,
                ssl=self.ssl_context,
                reuse_address=True,
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


class LoopbackSMTPServer:
    """A real SMTP server on loopback that keeps what it receives. Thread-safe."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        maildir: str | None = None,
        http_port: int | None = None,
        on_message: Callable[[ReceivedMessage], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.host = host
        self.port = port
        self.maildir = maildir
        self._http_port_requested = http_port
        self._on_message = on_message
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._messages: list[ReceivedMessage] = []
        self._ids = itertools.count(1)
        self._fail_rcpt: list[str] = []  # scripted replies, consumed one per command
        self._fail_data: list[str] = []
        self._rejected: dict[str, str] = {}
        self._reply_holds: list[tuple[threading.Event, threading.Event]] = []
        # A timed outage answers RCPT TO or DATA with (stage, reply) (on ``clock``; tests inject one).
        self._outage: TimedOutage[tuple[str, str]] = TimedOutage(clock)
        self._controller: _Controller | None = None
        self._down = False
        self._running = False
        self._lifecycle = threading.Lock()
        self.http: SMTPControlHTTPServer | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> LoopbackSMTPServer:
        with self._lifecycle:
            if self._running:
                return self
            if self.maildir:
                os.makedirs(self.maildir, exist_ok=True)
            self._down = False
            self._listen()
            if self._http_port_requested is not None:
                self.http = SMTPControlHTTPServer(self, self.host, self._http_port_requested).start()
            self._running = True
        return self

    def stop(self) -> None:
        with self._lifecycle:
            if not self._running:
                return
            if self.http is not None:
                self.http.stop()
                self.http = None
            self._unlisten()
            self._running = False

    def __enter__(self) -> LoopbackSMTPServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _listen(self) -> None:
        controller = _Controller(
            _Handler(self), hostname=self.host, port=self.port, server_hostname=_SERVER_HOSTNAME, ready_timeout=5.0
        )
        controller.start()
        self.port = controller.port
        self._controller = controller

    def _unlisten(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def http_port(self) -> int | None:
        return self.http.port if self.http else None

    @property
    def http_url(self) -> str | None:
        return self.http.url if self.http else None

    # ----------------------------------------------------------------- failure injection
    def fail_next(self, n: int = 1, code: int = 451, message: str = "Try again later", *, stage: str = "rcpt") -> None:
        """Answer the next ``n`` RCPT TO (``stage="rcpt"``) or DATA (``stage="data"``)
        commands with ``code message``."""
        if stage not in ("rcpt", "data"):
            raise ValueError("stage must be 'rcpt' or 'data'")
        reply = _reply(code, message)
        with self._lock:
            (self._fail_rcpt if stage == "rcpt" else self._fail_data).extend([reply] * int(n))

    def hold_next_reply(self) -> tuple[threading.Event, threading.Event]:
        """Keep the next accepted message (stored, so it counts as received) waiting for its
        250 until ``release`` is set: returns ``(received, release)``. A client stopped in that
        window cannot know the message arrived (the crash window after the hand-over)."""
        hold = (threading.Event(), threading.Event())
        with self._lock:
            self._reply_holds.append(hold)
        return hold

    def _take_reply_hold(self) -> tuple[threading.Event, threading.Event] | None:
        with self._lock:
            return self._reply_holds.pop(0) if self._reply_holds else None

    def reject_recipient(self, address: str, code: int = 550, message: str = "No such user") -> None:
        """Always answer RCPT TO for ``address`` with ``code message`` (case-insensitive)."""
        with self._lock:
            self._rejected[address.strip().lower()] = _reply(code, message)

    def accept_recipient(self, address: str) -> None:
        """Undo :meth:`reject_recipient`."""
        with self._lock:
            self._rejected.pop(address.strip().lower(), None)

    def reset_failures(self) -> None:
        with self._lock:
            self._fail_rcpt.clear()
            self._fail_data.clear()
            self._rejected.clear()
            self._outage.end()

    def start_outage(
        self, seconds: float, code: int = 451, message: str = "Service unavailable, try again later", *, stage="rcpt"
    ) -> None:
        """Answer every RCPT TO (``stage="rcpt"``) or DATA (``stage="data"``) with ``code message``
        for the next ``seconds`` seconds, as a relay in trouble does; ``seconds <= 0`` ends it.
        Unlike :meth:`fail_next` it does not depend on how many attempts the clients make."""
        if stage not in ("rcpt", "data"):
            raise ValueError("stage must be 'rcpt' or 'data'")
        reply = _reply(code, message)
        with self._lock:
            self._outage.start(seconds, (stage, reply))

    @property
    def outage_remaining(self) -> float:
        """Seconds left of the current timed outage (0.0 when there is none)."""
        with self._lock:
            return self._outage.remaining

    def _outage_reply_locked(self, stage: str) -> str | None:
        refused = self._outage.refuse(lambda answer: answer[0] == stage)
        return None if refused is None else refused[1]

    @property
    def outage_refusals(self) -> int:
        """How many commands timed outages have refused since the server started."""
        with self._lock:
            return self._outage.refusals

    def set_down(self, down: bool) -> None:
        """``True``: close the listener (clients get "connection refused", open sessions are
        dropped). ``False``: listen again on the same port."""
        with self._lifecycle:
            if not self._running or bool(down) == self._down:
                return
            if down:
                self._unlisten()
            else:
                self._listen()
            self._down = bool(down)

    @property
    def is_down(self) -> bool:
        return self._down

    def _rcpt_reply(self, address: str) -> str | None:
        with self._lock:
            rejected = self._rejected.get(address.strip().lower())
            if rejected is not None:
                return rejected
            outage = self._outage_reply_locked("rcpt")
            if outage is not None:
                return outage
            if self._fail_rcpt:
                return self._fail_rcpt.pop(0)
        return None

    def _data_reply(self) -> str | None:
        with self._lock:
            outage = self._outage_reply_locked("data")
            if outage is not None:
                return outage
            if self._fail_data:
                return self._fail_data.pop(0)
        return None

    # ----------------------------------------------------------------- received messages
    def _store(self, mail_from: str, rcpt_tos: tuple[str, ...], raw: bytes) -> None:
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        with self._lock:
            received = ReceivedMessage(
                id=next(self._ids),
                mail_from=mail_from,
                rcpt_tos=rcpt_tos,
                received_at=datetime.now(UTC),
                raw=raw,
            )
        if self.maildir:
            self._write_eml(received)
        with self._cond:
            self._messages.append(received)
            self._cond.notify_all()
        if self._on_message is not None:
            try:
                self._on_message(received)
            except Exception:  # a printing callback must never break the SMTP session
                logger.exception("on_message callback failed")

    def _write_eml(self, received: ReceivedMessage) -> None:
        name = f"{time.time_ns()}-{os.getpid()}-{received.id}.eml"
        path = os.path.join(self.maildir, name)
        envelope = (
            f"X-Loopback-Mail-From: {received.mail_from}\r\nX-Loopback-Rcpt-To: {', '.join(received.rcpt_tos)}\r\n"
        ).encode()
        tmp = os.path.join(self.maildir, f".{name}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(envelope + received.raw)
        os.replace(tmp, path)  # atomic: readers never see half a message

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    def find(self, *, notification_id: str | None = None, to: str | None = None) -> list[ReceivedMessage]:
        result = self.messages
        if notification_id is not None:
            result = [m for m in result if m.notification_id == notification_id]
        if to is not None:
            wanted = to.strip().lower()
            result = [m for m in result if wanted in (r.lower() for r in m.rcpt_tos)]
        return result

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages have arrived; return them all.
        Raises ``TimeoutError`` if they do not arrive within ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"expected {count} message(s) within {timeout}s, got {len(self._messages)}")
            return list(self._messages)

    def clear(self) -> int:
        with self._lock:
            n = len(self._messages)
            self._messages.clear()
            return n


def _reply(code: int, message: str) -> str:
    code = int(code)
    if not 200 <= code <= 599:
        raise ValueError(f"invalid SMTP reply code {code}")
    return f"{code} {message}"


# --------------------------------------------------------------------------- HTTP API
class _ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _ControlHTTPServer

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        logger.debug("smtp-control %s " + format, self.address_string(), *args)

    def _send_json(self, status: int, payload) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw or b"{}")

    def do_GET(self):  # noqa: N802
        smtp = self.server.smtp
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/messages":
            found = smtp.find(notification_id=query.get("notification_id"), to=query.get("to"))
            self._send_json(200, [m.to_dict() for m in found])
        elif url.path == "/health":
            self._send_json(
                200,
                {
                    "status": "ok",
                    "down": smtp.is_down,
                    "outage_remaining": round(smtp.outage_remaining, 3),
                    "outage_refusals": smtp.outage_refusals,
                    "smtp_port": smtp.port,
                    "messages": len(smtp.messages),
                },
            )
        else:
            self._send_json(404, {"error": "not found"})

    def do_DELETE(self):  # noqa: N802
        if urlsplit(self.path).path == "/messages":
            self._send_json(200, {"deleted": self.server.smtp.clear()})
        else:
            self._send_json(404, {"error": "not found"})

    def do_POST(self):  # noqa: N802
        if urlsplit(self.path).path != "/control":
            self._send_json(404, {"error": "not found"})
            return
        smtp = self.server.smtp
        try:
            body = self._read_json()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            if body.get("reset"):
                smtp.reset_failures()
                smtp.set_down(False)
            if "fail_next" in body:
                smtp.fail_next(
                    int(body["fail_next"]),
                    int(body.get("code", 451)),
                    body.get("message", "Try again later"),
                    stage=body.get("stage", "rcpt"),
                )
            if "outage_seconds" in body:
                smtp.start_outage(
                    float(body["outage_seconds"]),
                    int(body.get("code", 451)),
                    body.get("message", "Service unavailable, try again later"),
                    stage=body.get("stage", "rcpt"),
                )
            if "reject" in body:
                smtp.reject_recipient(body["reject"], int(body.get("code", 550)), body.get("message", "No such user"))
            if "accept" in body:
                smtp.accept_recipient(body["accept"])
            if "down" in body:
                smtp.set_down(bool(body["down"]))
        except (ValueError, TypeError, KeyError) as exc:
            self._send_json(400, {"error": str(exc)})
            return
        self._send_json(200, {"ok": True, "down": smtp.is_down, "outage_remaining": round(smtp.outage_remaining, 3)})


class _ControlHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    smtp: LoopbackSMTPServer

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client went away; not worth a traceback
        logger.exception("loopback SMTP control API: error handling a request from %s", client_address)


class SMTPControlHTTPServer:
    """The JSON HTTP API of a :class:`LoopbackSMTPServer` (stdlib http.server in a thread)."""

    def __init__(self, smtp: LoopbackSMTPServer, host: str = "127.0.0.1", port: int = 0):
        self.smtp = smtp
        self.host = host
        self.port = port
        self._httpd: _ControlHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SMTPControlHTTPServer:
        httpd = _ControlHTTPServer((self.host, self.port), _ControlHandler)
        httpd.smtp = self.smtp
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"smtp-control-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


# --------------------------------------------------------------------------- CLI
def _print_message(msg: ReceivedMessage) -> None:
    nid = msg.notification_id
    line = f"[smtp] from={msg.mail_from} to={','.join(msg.rcpt_tos)} subject={msg.subject!r}"
    if nid:
        line += f" notification_id={nid}"
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m notification_devtools.loopback.smtp",
        description="Loopback SMTP server that keeps what it receives.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", default=None, help="also write each message as DIR/*.eml")
    parser.add_argument("--http-port", type=int, default=None, help="serve the JSON HTTP API here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    server = LoopbackSMTPServer(
        args.host, args.port, maildir=args.maildir, http_port=args.http_port, on_message=_print_message
    )
    server.start()
    extra = f", HTTP API on http://{args.host}:{server.http_port}" if server.http else ""
    print(f"[smtp] listening on {args.host}:{server.port}{extra}", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
        print("[smtp] stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
