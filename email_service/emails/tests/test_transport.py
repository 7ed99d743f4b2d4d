"""EmailService against a real SMTP server on loopback: replies are classified, the one
connection is reused and replaced when it breaks, and the circuit breaker fails fast."""

import smtplib

import pytest

from emails.clients import RenderedEmail
from emails.errors import DeliveryFailure
from emails.queue_messages import parse_email_request
from emails.tests.conftest import email_message
from emails.transport import EmailService, classify_smtp_error
from notification_common.circuit import CircuitBreaker

RENDERED = RenderedEmail(subject="Hello", text_body="Hi", html_body="<p>Hi</p>", language="en", version=1)


@pytest.fixture
def service(smtp_server):
    service = EmailService(
        host=smtp_server.host,
        port=smtp_server.port,
        timeout=5,
        from_email="Platform <noreply@example.org>",
        breaker=CircuitBreaker("smtp-test", failure_threshold=2, reset_seconds=60),
    )
    yield service
    service.close()


def _request(**overrides):
    return parse_email_request(email_message(**overrides))


def test_send_hands_the_message_to_the_server(service, smtp_server):
    request = _request()

    result = service.send(request, RENDERED)

    [received] = smtp_server.wait_for(1)
    assert result.smtp_code == 250
    assert received.mail_from == "noreply@example.org"
    assert received["Message-ID"] == f"<{request.notification_id}@example.org>"


def test_messages_share_one_connection(service, smtp_server):
    for n in range(5):
        service.send(_request(recipient={"email": f"u{n}@example.com"}), RENDERED)

    assert len(smtp_server.wait_for(5)) == 5
    assert service.connections_opened == 1


def test_recipient_refused_with_550_is_permanent_and_keeps_the_connection(service, smtp_server):
    smtp_server.reject_recipient("gone@example.com", 550, "Mailbox unavailable")

    with pytest.raises(DeliveryFailure) as failure:
        service.send(_request(recipient={"email": "gone@example.com"}), RENDERED)
    service.send(_request(), RENDERED)

    assert failure.value.permanent
    assert failure.value.smtp_code == 550
    assert failure.value.reason == "smtp_recipient_refused: 550 Mailbox unavailable"
    assert service.connections_opened == 1


def test_451_is_transient(service, smtp_server):
    smtp_server.fail_next(1, code=451, message="Greylisted")

    with pytest.raises(DeliveryFailure) as failure:
        service.send(_request(), RENDERED)

    assert not failure.value.permanent
    assert failure.value.reason == "smtp_temporary_failure: 451 Greylisted"


def test_554_at_data_is_permanent(service, smtp_server):
    smtp_server.fail_next(1, code=554, message="Content rejected", stage="data")

    with pytest.raises(DeliveryFailure) as failure:
        service.send(_request(), RENDERED)

    assert failure.value.permanent
    assert failure.value.reason == "smtp_rejected: 554 Content rejected"


def test_server_down_is_a_transient_connection_error(service, smtp_server):
    smtp_server.set_down(True)

    with pytest.raises(DeliveryFailure) as failure:
        service.send(_request(), RENDERED)

    assert not failure.value.permanent
    assert failure.value.reason.startswith("smtp_connection_error: ConnectionRefusedError")


def test_connection_dropped_by_the_server_is_replaced_without_failing_the_message(service, smtp_server):
    service.send(_request(), RENDERED)
    smtp_server.set_down(True)  # drops the open session
    smtp_server.set_down(False)

    service.send(_request(), RENDERED)

    assert len(smtp_server.wait_for(2)) == 2
    assert service.connections_opened == 2


def test_repeated_failures_open_the_circuit_and_sends_fail_fast_with_retry_after(service, smtp_server):
    smtp_server.set_down(True)
    for _ in range(2):
        with pytest.raises(DeliveryFailure):
            service.send(_request(), RENDERED)
    smtp_server.set_down(False)

    with pytest.raises(DeliveryFailure) as failure:
        service.send(_request(), RENDERED)

    assert failure.value.reason.startswith("smtp_circuit_open")
    assert 0 < failure.value.retry_after <= 60
    assert smtp_server.messages == []


def test_recipient_refusals_do_not_open_the_circuit(service, smtp_server):
    smtp_server.reject_recipient("gone@example.com", 550)
    for _ in range(3):
        with pytest.raises(DeliveryFailure):
            service.send(_request(recipient={"email": "gone@example.com"}), RENDERED)

    service.send(_request(), RENDERED)

    assert service.breaker.state == "closed"


def test_subject_with_line_breaks_is_sent_on_one_line(service, smtp_server):
    service.send(_request(), RenderedEmail("Hello\r\nBcc: x@evil.test", "Hi", "", "en", 1))

    [received] = smtp_server.wait_for(1)
    assert received.subject == "Hello Bcc: x@evil.test"
    assert received["Bcc"] is None
    assert received.html is None


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (smtplib.SMTPRecipientsRefused({"a@b.c": (552, b"Mailbox full")}), True),
        (smtplib.SMTPRecipientsRefused({"a@b.c": (450, b"Mailbox busy")}), False),
        (smtplib.SMTPSenderRefused(451, b"Try later", "x@y.z"), False),
        (smtplib.SMTPAuthenticationError(535, b"Bad credentials"), False),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), False),
        (TimeoutError("timed out"), False),
    ],
)
def test_smtp_errors_are_classified(error, permanent):
    assert classify_smtp_error(error).failure.permanent is permanent
