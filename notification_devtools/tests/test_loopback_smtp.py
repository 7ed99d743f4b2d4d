"""The loopback SMTP server, driven by the standard library's smtplib (a real SMTP client)."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import urllib.request
from email.message import EmailMessage

import pytest

from notification_devtools.loopback.smtp import LoopbackSMTPServer
from notification_devtools.testing.waiting import wait_until


def _message(to="user@example.com", subject="Hello", notification_id="n-1") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Notifications <noreply@example.com>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["X-Notification-ID"] = notification_id
    msg.set_content("plain body\n")
    msg.add_alternative("<p>html body</p>\n", subtype="html")
    return msg


def _send(port: int, msg: EmailMessage) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        return client.send_message(msg)


def _http(method: str, url: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def smtp(tmp_path):
    with LoopbackSMTPServer(maildir=str(tmp_path / "maildir"), http_port=0) as server:
        yield server


def test_message_arrives_with_parts_headers_and_envelope(smtp, tmp_path):
    assert smtp.port > 0
    _send(smtp.port, _message(subject="Welcome", notification_id="abc-123"))

    [received] = smtp.wait_for(1, timeout=5)
    assert received.subject == "Welcome"
    assert received.notification_id == "abc-123"
    assert received["X-Notification-ID"] == "abc-123"
    assert received.text == "plain body\n"
    assert received.html == "<p>html body</p>\n"
    assert received.mail_from == "noreply@example.com"
    assert received.rcpt_tos == ("user@example.com",)
    assert received.message.is_multipart()

    [eml] = [f for f in os.listdir(tmp_path / "maildir") if f.endswith(".eml")]
    content = (tmp_path / "maildir" / eml).read_bytes()
    assert b"X-Loopback-Rcpt-To: user@example.com" in content
    assert b"Subject: Welcome" in content

    assert smtp.clear() == 1
    assert smtp.messages == []


def test_fail_next_rcpt_then_success(smtp):
    smtp.fail_next(1, 451, "Try again later")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as exc_info:
        _send(smtp.port, _message())
    assert exc_info.value.recipients["user@example.com"][0] == 451

    _send(smtp.port, _message())
    assert len(smtp.wait_for(1)) == 1


def test_fail_next_data_stage(smtp):
    smtp.fail_next(1, 451, "Queue full", stage="data")
    with pytest.raises(smtplib.SMTPDataError) as exc_info:
        _send(smtp.port, _message())
    assert exc_info.value.smtp_code == 451
    _send(smtp.port, _message())
    assert len(smtp.wait_for(1)) == 1


def test_reject_recipient_gives_550(smtp):
    smtp.reject_recipient("Nobody@Example.com")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as exc_info:
        _send(smtp.port, _message(to="nobody@example.com"))
    assert exc_info.value.recipients["nobody@example.com"] == (550, b"No such user")
    # still rejected the second time; other recipients are fine
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send(smtp.port, _message(to="nobody@example.com"))
    _send(smtp.port, _message(to="somebody@example.com"))
    assert [m.rcpt_tos for m in smtp.wait_for(1)] == [("somebody@example.com",)]


def test_down_then_up_on_same_port(smtp):
    port = smtp.port
    smtp.set_down(True)
    assert smtp.is_down
    with pytest.raises(ConnectionRefusedError):
        _send(port, _message())

    smtp.set_down(False)
    assert smtp.port == port
    _send(port, _message())
    assert len(smtp.wait_for(1)) == 1


def test_http_control_api(smtp):
    base = smtp.http_url
    _send(smtp.port, _message(notification_id="n-1", subject="first"))
    _send(smtp.port, _message(notification_id="n-2", subject="second"))
    smtp.wait_for(2)

    listed = _http("GET", f"{base}/messages")
    assert [m["subject"] for m in listed] == ["first", "second"]
    first = listed[0]
    assert first["from"] == "noreply@example.com"
    assert first["to"] == ["user@example.com"]
    assert first["headers"]["X-Notification-ID"] == "n-1"
    assert first["text"] == "plain body\n" and first["html"] == "<p>html body</p>\n"
    assert first["received_at"]

    [only] = _http("GET", f"{base}/messages?notification_id=n-2")
    assert only["subject"] == "second"

    _http("POST", f"{base}/control", {"fail_next": 1, "code": 452})
    with pytest.raises(smtplib.SMTPRecipientsRefused) as exc_info:
        _send(smtp.port, _message())
    assert exc_info.value.recipients["user@example.com"][0] == 452

    _http("POST", f"{base}/control", {"reject": "blocked@example.com", "code": 550})
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send(smtp.port, _message(to="blocked@example.com"))

    assert _http("POST", f"{base}/control", {"down": True})["down"] is True
    with pytest.raises(ConnectionRefusedError):
        _send(smtp.port, _message())
    _http("POST", f"{base}/control", {"down": False})

    assert _http("DELETE", f"{base}/messages") == {"deleted": 2}
    assert _http("GET", f"{base}/messages") == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_prints_one_line_per_message_and_stops_on_sigterm():
    port, http_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "notification_devtools.loopback.smtp",
            "--port",
            str(port),
            "--http-port",
            str(http_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening" in proc.stdout.readline()
        _send(port, _message(notification_id="cli-1", subject="via cli"))
        line = proc.stdout.readline()
        assert "to=user@example.com" in line and "'via cli'" in line and "cli-1" in line
        wait_until(
            lambda: _http("GET", f"http://127.0.0.1:{http_port}/messages?notification_id=cli-1"),
            timeout=5,
            what="cli-1 listed over HTTP",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
