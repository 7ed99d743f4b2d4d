"""``EmailService``: the SMTP side of a delivery, through Django's SMTP backend.

One connection is kept open and reused across messages (a new one per email costs about
a third of the throughput); it is dropped after a connection-level error and reopened on
the next send. A circuit breaker stops hammering a server that keeps failing: while it is
open every send fails fast as transient, so the messages wait in the delay queues.
SMTP replies are classified here (docs/email_service.md, "Failures").
"""

from __future__ import annotations

import logging
import re
import smtplib
import time
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.smtp import EmailBackend
from django.utils.html import strip_tags

from emails.clients import RenderedEmail
from emails.constants import NOTIFICATION_ID_HEADER, FailureReason, reason
from emails.errors import DeliveryFailure
from emails.queue_messages import EmailRequest
from notification_common.circuit import CircuitBreaker, CircuitOpenError
from notification_common.unsubscribe import unsubscribe_url

logger = logging.getLogger(__name__)

_LINE_BREAKS = re.compile(r"[\r\n]+\s*")
# A connection idle this long may have been dropped by the server (Postfix: 300 s);
# it is checked with NOOP before use instead of failing the first message of a burst.
IDLE_CHECK_SECONDS = 30.0


class HandoverRefused(Exception):  # noqa: N818 - a refusal, not an error of the SMTP side
    """Raised by a ``before_data`` hook that will not let this email go (its claim was lost).
    It is raised before the DATA command: the server has not received the message, and the
    transaction is reset so the connection stays usable. Raised by a ``hand_over`` hook
    (``in_data``), the server is inside DATA without the message's end: the connection is
    dropped, so the server discards what it got."""

    def __init__(self, message: str, *, claim_lost: bool = False, in_data: bool = False):
        super().__init__(message)
        self.reason = message
        self.claim_lost = claim_lost
        self.in_data = in_data


class _HandoverHook:
    """``smtplib.SMTP.data`` with two hooks: ``before_data``, called with no arguments just
    before the DATA command, and ``hand_over``, called once the server said 354 with a
    ``write`` that sends the whole message and its final ``.`` in one ``sendall``.

    The server takes the email at that final ``.``: ``hand_over`` records the hand-over right
    ahead of the write (emails.services.claims.email_handover_mark), so a worker stopped after
    the write leaves the row marked, and is never sent again, and one stopped before it leaves
    nothing marked and nothing at the server. ``data`` is smtplib's own, with the hook between
    the 354 and the message (its private helpers: the Python version is pinned).
    """

    before_data = None  # set by EmailService per message
    hand_over = None

    def data(self, msg):
        hook, self.before_data = self.before_data, None
        hand_over, self.hand_over = self.hand_over, None
        if hook is not None:
            hook()
        if hand_over is None:
            return super().data(msg)
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        if isinstance(msg, str):
            msg = smtplib._fix_eols(msg).encode("ascii")
        payload = smtplib._quote_periods(msg)
        if payload[-2:] != smtplib.bCRLF:
            payload += smtplib.bCRLF
        payload += b"." + smtplib.bCRLF
        hand_over(lambda: self.send(payload))
        return self.getreply()


class _SMTP(_HandoverHook, smtplib.SMTP):
    """Plain or STARTTLS connections, with the hand-over hook."""


class _SMTPSSL(_HandoverHook, smtplib.SMTP_SSL):
    """Implicit-TLS connections (SMTP_USE_SSL), with the hand-over hook."""


class _Backend(EmailBackend):
    @property
    def connection_class(self):
        return _SMTPSSL if self.use_ssl else _SMTP


@dataclass(frozen=True)
class SendResult:
    duration_ms: int
    smtp_code: int = 250


@dataclass(frozen=True)
class _Classified:
    failure: DeliveryFailure
    server_trouble: bool  # counts against the circuit breaker
    drop_connection: bool


def unsubscribe_headers(request: EmailRequest) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe for an email of a category users may opt out of: a
    signed link to the user service (docs/api.md, "Categories and unsubscribe")."""
    if not request.category or request.category_required or not request.user_id:
        return {}
    url = unsubscribe_url(user_id=request.user_id, category=request.category, channel="email")
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def message_id_for(notification_id: str, from_email: str) -> str:
    """The same Message-ID for every send of one notification, so a duplicate after a crash
    can be recognised by the receiving side."""
    domain = parseaddr(from_email)[1].rpartition("@")[2] or "notifications.local"
    return f"<{notification_id}@{domain}>"


def _one_line(value: str) -> str:
    return _LINE_BREAKS.sub(" ", value).strip()


def _reply_text(message) -> str:
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return _one_line(str(message))[:300]


def classify_smtp_error(exc: Exception) -> _Classified:
    """Transient: connection errors, timeouts, 4xx. Permanent: 5xx for this message/recipient."""
    if isinstance(exc, ValueError):
        # Raised while the backend builds the MIME message (BadHeaderError...): the content
        # is the problem, and it will not change on a retry.
        return _Classified(
            DeliveryFailure.permanent_failure(reason(FailureReason.INVALID_MESSAGE, f"cannot build the email: {exc}")),
            server_trouble=False,
            drop_connection=False,
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # One recipient per message, so "refused" means refused for the only one.
        code, text = next(iter(exc.recipients.values()), (None, b""))
        detail = f"{code} {_reply_text(text)}"
        if code is not None and code >= 500:
            return _Classified(
                DeliveryFailure.permanent_failure(reason(FailureReason.SMTP_RECIPIENT_REFUSED, detail), smtp_code=code),
                server_trouble=False,
                drop_connection=False,
            )
        return _Classified(
            DeliveryFailure.transient_failure(reason(FailureReason.SMTP_TEMPORARY_FAILURE, detail), smtp_code=code),
            server_trouble=True,
            drop_connection=code == 421,
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError | smtplib.SMTPConnectError | smtplib.SMTPHeloError):
        # Credentials or greeting refused: a server/configuration problem, not this message's.
        detail = f"{exc.smtp_code} {_reply_text(exc.smtp_error)}"
        return _Classified(
            DeliveryFailure.transient_failure(
                reason(FailureReason.SMTP_CONNECTION_ERROR, detail), smtp_code=exc.smtp_code
            ),
            server_trouble=True,
            drop_connection=True,
        )
    if isinstance(exc, smtplib.SMTPResponseException):  # MAIL FROM or DATA refused
        code = exc.smtp_code
        detail = f"{code} {_reply_text(exc.smtp_error)}"
        if code >= 500:
            return _Classified(
                DeliveryFailure.permanent_failure(reason(FailureReason.SMTP_REJECTED, detail), smtp_code=code),
                server_trouble=False,
                drop_connection=False,
            )
        return _Classified(
            DeliveryFailure.transient_failure(reason(FailureReason.SMTP_TEMPORARY_FAILURE, detail), smtp_code=code),
            server_trouble=True,
            drop_connection=code == 421,
        )
    # SMTPServerDisconnected, timeouts, refused/reset connections, TLS errors, anything else.
    return _Classified(
        DeliveryFailure.transient_failure(
            reason(FailureReason.SMTP_CONNECTION_ERROR, f"{type(exc).__name__}: {_reply_text(exc)}")
        ),
        server_trouble=True,
        drop_connection=True,
    )


class EmailService:
    """Sends one email at a time over one reused SMTP connection. Not thread-safe."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str = "",
        password: str = "",
        use_tls: bool = False,
        use_ssl: bool = False,
        timeout: float = 10.0,
        from_email: str,
        breaker: CircuitBreaker | None = None,
        clock=time.monotonic,
    ):
        self.from_email = from_email
        self.backend = _Backend(
            host=host,
            port=port,
            username=username,
            password=password,
            use_tls=use_tls,
            use_ssl=use_ssl,
            timeout=timeout,
            fail_silently=False,
        )
        self.breaker = breaker or CircuitBreaker("smtp")
        self._clock = clock
        self._last_used = 0.0
        self.connections_opened = 0

    @classmethod
    def from_settings(cls) -> EmailService:
        return cls(
            host=settings.SMTP_HOST,
            port=settings.SMTP_PORT,
            username=settings.SMTP_USERNAME,
            password=settings.SMTP_PASSWORD,
            use_tls=settings.SMTP_USE_TLS,
            use_ssl=settings.SMTP_USE_SSL,
            timeout=settings.SMTP_TIMEOUT,
            from_email=settings.EMAIL_FROM,
            breaker=CircuitBreaker(
                "smtp",
                failure_threshold=settings.EMAIL_SMTP_BREAKER_THRESHOLD,
                reset_seconds=settings.EMAIL_SMTP_BREAKER_RESET_SECONDS,
            ),
        )

    # ------------------------------------------------------------------ building
    def build_message(self, request: EmailRequest, rendered: RenderedEmail) -> EmailMultiAlternatives:
        name = _one_line(request.recipient_name)
        to = formataddr((name, request.recipient_email)) if name else request.recipient_email
        text = rendered.text_body or strip_tags(rendered.html_body)
        message = EmailMultiAlternatives(
            subject=_one_line(rendered.subject),
            body=text,
            from_email=self.from_email,
            to=[to],
            headers={
                NOTIFICATION_ID_HEADER: request.notification_id,
                "Message-ID": message_id_for(request.notification_id, self.from_email),
                **unsubscribe_headers(request),
            },
            connection=self.backend,
        )
        if rendered.html_body:
            message.attach_alternative(rendered.html_body, "text/html")
        return message

    # ------------------------------------------------------------------ sending
    def send(self, request: EmailRequest, rendered: RenderedEmail, *, before_data=None, hand_over=None) -> SendResult:
        """Hand one email to the SMTP server, or raise DeliveryFailure.

        ``before_data`` (no arguments) is called once the server accepted the sender and the
        recipient, just before the DATA command; ``hand_over(write)`` once the server said 354,
        with a ``write`` that sends the message and its end (see _HandoverHook). Either may
        raise HandoverRefused, which is raised from here as is: nothing was sent, and the
        connection is reset, or dropped if the server was inside DATA.
        """
        message = self.build_message(request, rendered)
        try:
            self.breaker.before_call()
        except CircuitOpenError as exc:
            raise DeliveryFailure.transient_failure(
                reason(FailureReason.SMTP_CIRCUIT_OPEN, f"SMTP failed repeatedly; next try in {exc.retry_in:.1f}s"),
                retry_after=exc.retry_in,
            ) from exc
        started = time.perf_counter()
        try:
            self._send_with_reconnect(message, before_data, hand_over)
        except HandoverRefused as refused:
            self.breaker.record_success()  # the server answered MAIL FROM and RCPT TO
            if refused.in_data:
                self._drop_connection()
            else:
                self._reset_transaction()
            raise
        except Exception as exc:  # noqa: BLE001 - every SMTP/socket failure is classified below
            classified = classify_smtp_error(exc)
            if classified.drop_connection:
                self._drop_connection()
            if classified.server_trouble:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()  # the server answered properly; the message was the problem
            raise classified.failure from exc
        self.breaker.record_success()
        self._last_used = self._clock()
        return SendResult(duration_ms=int((time.perf_counter() - started) * 1000))

    def _send_with_reconnect(self, message: EmailMultiAlternatives, before_data, hand_over) -> None:
        reused = self._prepare_connection()
        reached_data = False

        def hook():
            nonlocal reached_data
            reached_data = True
            if before_data is not None:
                before_data()

        try:
            self._send_once(message, hook, hand_over)
        except (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError):
            if not reused or reached_data:
                raise
            # The server dropped a connection we kept open between messages before the DATA
            # command: nothing was handed over on it, so one try on a fresh connection is safe.
            logger.info("SMTP connection was closed by the server; reconnecting")
            self._drop_connection()
            self._prepare_connection()
            self._send_once(message, hook, hand_over)

    def _prepare_connection(self) -> bool:
        """Open the connection if needed; True when an already open one is reused."""
        connection = self.backend.connection
        if connection is not None and self._clock() - self._last_used > IDLE_CHECK_SECONDS:
            try:
                alive = connection.noop()[0] == 250
            except (smtplib.SMTPException, OSError):
                alive = False
            if not alive:
                self._drop_connection()
        if self.backend.connection is None:
            self.backend.open()
            self.connections_opened += 1
            self._last_used = self._clock()
            return False
        return True

    def _send_once(self, message: EmailMultiAlternatives, before_data, hand_over=None) -> None:
        # The backend's connection is open, so send_messages neither opens nor closes it.
        self.backend.connection.before_data = before_data
        self.backend.connection.hand_over = hand_over
        try:
            if self.backend.send_messages([message]) != 1:
                raise smtplib.SMTPException("the SMTP backend did not send the message")
        finally:
            if self.backend.connection is not None:
                self.backend.connection.before_data = self.backend.connection.hand_over = None

    def _reset_transaction(self) -> None:
        """RSET after MAIL FROM/RCPT TO whose DATA never came; a connection that will not
        reset is dropped (the next send opens a new one)."""
        connection = self.backend.connection
        try:
            reset = connection is not None and connection.rset()[0] == 250
        except (smtplib.SMTPException, OSError):
            reset = False
        if not reset:
            self._drop_connection()

    def _drop_connection(self) -> None:
        try:
            self.backend.close()
        except Exception:  # noqa: BLE001 - closing a connection we are giving up on
            logger.debug("error while closing the SMTP connection", exc_info=True)
        self.backend.connection = None

    def close(self) -> None:
        self._drop_connection()
