"""The Go SMTP sink (bench/smtpsink) against the clients the platform uses: Django's SMTP
backend and smtplib send real emails to the built binary, which must give them back through
its HTTP API as the Python loopback server would (bench/capacity.py reads them there).

    .venv/bin/python -m pytest -q bench/tests
"""

import email
import email.policy
import re
import smtplib
import subprocess
import sys
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import capacity  # noqa: E402

LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+), HTTP API on (http://127\.0\.0\.1:\d+)")
NOTIFICATION_ID = "0b5c6f7e-1111-4222-8333-444455556666"
TEXT = "Hello Renée, bench-seq=42\n.a line that starts with a dot\n..and one with two\n"
HTML = "<p>Hello Renée, bench-seq=42</p>\n"
SUBJECT = "Café ☕ déjà vu: your notification"


@pytest.fixture(scope="module")
def sink():
    """(SMTP port, HTTP API URL) of a running sink; the binary is built as make bench builds it."""
    binary = capacity.build_smtpsink()
    if binary is None:
        pytest.skip("no Go toolchain to build bench/smtpsink (apt-get install golang-go)")
    process = subprocess.Popen(
        [str(binary), "-host", "127.0.0.1", "-port", "0", "-http-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline()  # printed once both ports listen
        match = LISTENING.search(first_line)
        if match is None:
            process.kill()
            pytest.fail(f"smtpsink did not start: {first_line!r} {process.stderr.read()!r}")
        yield int(match[1]), match[2]
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def api(sink):
    """The sink's API URL, holding no messages."""
    httpx.delete(f"{sink[1]}/messages", timeout=5).raise_for_status()
    return sink[1]


def messages(api: str, **params) -> list[dict]:
    response = httpx.get(f"{api}/messages", params=params, timeout=5)
    response.raise_for_status()
    return response.json()


def test_an_email_sent_by_djangos_smtp_backend_comes_back_decoded(sink, api):
    from django.conf import settings

    if not settings.configured:
        settings.configure()
    from django.core.mail import EmailMultiAlternatives
    from django.core.mail.backends.smtp import EmailBackend

    message = EmailMultiAlternatives(
        subject=SUBJECT,
        body=TEXT,
        from_email="Notifications <noreply@example.com>",
        to=["renee@example.com"],
        headers={"X-Notification-ID": NOTIFICATION_ID},
    )
    message.attach_alternative(HTML, "text/html")
    backend = EmailBackend(host="127.0.0.1", port=sink[0], use_tls=False, use_ssl=False, timeout=10)
    assert backend.send_messages([message]) == 1

    [received] = messages(api)
    assert received["from"] == "noreply@example.com"
    assert received["to"] == ["renee@example.com"]
    assert received["subject"] == SUBJECT
    assert received["notification_id"] == NOTIFICATION_ID
    assert received["headers"]["X-Notification-ID"] == NOTIFICATION_ID
    assert received["text"] == TEXT
    assert received["html"] == HTML
    assert datetime.fromisoformat(received["received_at"]).utcoffset().total_seconds() == 0


@pytest.mark.parametrize("text_encoding, html_encoding", [("quoted-printable", "base64"), ("base64", "8bit")])
def test_parts_read_as_pythons_email_package_reads_them(sink, api, text_encoding, html_encoding):
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = "noreply@example.com"
    message["To"] = "renee@example.com"
    message["Subject"] = SUBJECT
    message["X-Notification-ID"] = NOTIFICATION_ID
    message.set_content(TEXT + "a long line " * 30 + "\n", cte=text_encoding)
    message.add_alternative(HTML, subtype="html", cte=html_encoding)
    with smtplib.SMTP("127.0.0.1", sink[0], timeout=10) as client:
        client.send_message(message)

    [received] = messages(api, notification_id=NOTIFICATION_ID, to="RENEE@example.com")
    # What the Python loopback server gives: the wire's CRLF made "\n", then parsed.
    parsed = email.message_from_bytes(message.as_bytes().replace(b"\r\n", b"\n"), policy=email.policy.default)
    assert received["subject"] == str(parsed["Subject"]) == SUBJECT
    # Line ends are "\n" whatever the transfer encoding (the Python server keeps the CRLF a
    # base64 part carries inside it; the text is the same).
    assert received["text"] == parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert received["html"] == parsed.get_body(("html",)).get_content().replace("\r\n", "\n")


def test_health_counts_what_is_held_and_delete_empties_it(sink, api):
    with smtplib.SMTP("127.0.0.1", sink[0], timeout=10) as client:
        for n in range(3):
            client.sendmail("a@example.com", [f"u{n}@example.com"], f"Subject: {n}\r\n\r\nbody {n}\r\n")

    health = httpx.get(f"{api}/health", timeout=5).json()
    assert health["status"] == "ok" and health["messages"] == 3
    assert messages(api, notification_id="not-there") == []
    assert httpx.delete(f"{api}/messages", timeout=5).json() == {"deleted": 3}
    assert httpx.get(f"{api}/health", timeout=5).json()["messages"] == 0
