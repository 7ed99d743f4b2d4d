"""Timed provider outages of the loopback SMTP and FCM servers (used by the chaos suite).

Each server takes an injected clock, so an outage "for 600 seconds" is tested by moving
the clock, not by waiting.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
import requests

from notification_devtools.loopback.fcm import LoopbackFCMServer
from notification_devtools.loopback.smtp import LoopbackSMTPServer


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _message(notification_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "noreply@example.com"
    msg["To"] = "user@example.com"
    msg["Subject"] = "Hello"
    msg["X-Notification-ID"] = notification_id
    msg.set_content("body\n")
    return msg


def _send_mail(port: int, notification_id: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.send_message(_message(notification_id))


def _fcm_send(fcm: LoopbackFCMServer, token: str) -> requests.Response:
    return requests.post(
        fcm.fcm_url_template.format("loopback-project"),
        json={"message": {"token": token, "data": {"k": "v"}}},
        headers={"Authorization": "Bearer loopback-raw"},
        timeout=5,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def smtp(clock):
    with LoopbackSMTPServer(http_port=0, clock=clock) as server:
        yield server


@pytest.fixture
def fcm(clock):
    with LoopbackFCMServer(clock=clock) as server:
        yield server


# --------------------------------------------------------------------------- SMTP
def test_smtp_outage_refuses_every_recipient_until_it_ends(smtp, clock):
    smtp.start_outage(600, code=451, message="Relay overloaded")

    for attempt in range(3):  # not a count of failures: every attempt during the outage fails
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            _send_mail(smtp.port, f"during-{attempt}")
        assert refused.value.recipients["user@example.com"] == (451, b"Relay overloaded")
    assert smtp.outage_remaining == pytest.approx(600)

    clock.advance(599)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send_mail(smtp.port, "last-second")

    clock.advance(1)
    _send_mail(smtp.port, "after")
    assert [m.notification_id for m in smtp.wait_for(1)] == ["after"]
    assert smtp.outage_remaining == 0.0
    assert smtp.outage_refusals == 4


def test_smtp_outage_at_data_stage(smtp, clock):
    smtp.start_outage(10, code=452, message="Insufficient storage", stage="data")

    with pytest.raises(smtplib.SMTPDataError) as refused:
        _send_mail(smtp.port, "during")
    assert refused.value.smtp_code == 452

    clock.advance(10)
    _send_mail(smtp.port, "after")
    assert [m.notification_id for m in smtp.messages] == ["after"]


def test_smtp_outage_over_the_http_control_api(smtp, clock):
    control = f"{smtp.http_url}/control"
    answer = requests.post(control, json={"outage_seconds": 60, "code": 451}, timeout=5).json()
    assert answer["outage_remaining"] == pytest.approx(60)
    assert requests.get(f"{smtp.http_url}/health", timeout=5).json()["outage_remaining"] == pytest.approx(60)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send_mail(smtp.port, "during")

    clock.advance(30)
    health = requests.get(f"{smtp.http_url}/health", timeout=5).json()
    assert health["outage_remaining"] == pytest.approx(30)
    assert health["outage_refusals"] == 1
    requests.post(control, json={"outage_seconds": 0}, timeout=5).raise_for_status()  # ends it early
    _send_mail(smtp.port, "after")
    assert [m.notification_id for m in smtp.messages] == ["after"]

    requests.post(control, json={"outage_seconds": 60}, timeout=5).raise_for_status()
    requests.post(control, json={"reset": True}, timeout=5).raise_for_status()  # reset ends it too
    assert smtp.outage_remaining == 0.0
    bad = requests.post(control, json={"outage_seconds": 60, "code": 99}, timeout=5)
    assert bad.status_code == 400 and "invalid SMTP reply code" in bad.json()["error"]
    bad_stage = requests.post(control, json={"outage_seconds": 60, "stage": "mail"}, timeout=5)
    assert bad_stage.status_code == 400


# --------------------------------------------------------------------------- FCM
def test_fcm_outage_answers_unavailable_to_every_token_until_it_ends(fcm, clock):
    fcm.start_outage(600)

    for token in ("tok-a", "tok-b", "tok-a"):
        response = _fcm_send(fcm, token)
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["status"] == "UNAVAILABLE"
        assert error["details"][0]["errorCode"] == "UNAVAILABLE"
    assert fcm.messages == []

    clock.advance(600)
    assert _fcm_send(fcm, "tok-a").status_code == 200
    assert [m["token"] for m in fcm.messages] == ["tok-a"]
    assert fcm.outage_remaining == 0.0
    assert fcm.outage_refusals == 3


def test_fcm_outage_takes_precedence_over_scripted_outcomes(fcm, clock):
    fcm.set_outcome("tok-gone", "UNREGISTERED")
    fcm.start_outage(5, outcome="INTERNAL")

    assert _fcm_send(fcm, "tok-gone").status_code == 500
    clock.advance(5)
    assert _fcm_send(fcm, "tok-gone").status_code == 404  # the script applies again


def test_fcm_outage_over_the_http_api(fcm, clock):
    base = f"{fcm.url}/_loopback"
    answer = requests.post(f"{base}/outage", json={"seconds": 120}, timeout=5).json()
    assert answer["outage_remaining"] == pytest.approx(120)
    assert requests.get(f"{base}/health", timeout=5).json()["outage_remaining"] == pytest.approx(120)
    assert _fcm_send(fcm, "tok-a").status_code == 503
    assert requests.get(f"{base}/health", timeout=5).json()["outage_refusals"] == 1

    assert requests.delete(f"{base}/outage", timeout=5).json()["outage_remaining"] == 0.0
    assert _fcm_send(fcm, "tok-a").status_code == 200

    assert requests.post(f"{base}/outage", json={"seconds": 5, "outcome": "NOPE"}, timeout=5).status_code == 400
    assert requests.post(f"{base}/outage", json={}, timeout=5).status_code == 400
    requests.post(f"{base}/outage", json={"seconds": 5}, timeout=5).raise_for_status()
    requests.delete(f"{base}/outcomes", timeout=5).raise_for_status()  # clearing outcomes ends it too
    assert fcm.outage_remaining == 0.0
