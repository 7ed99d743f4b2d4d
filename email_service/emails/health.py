"""Health checks of the email service beyond database/Redis/RabbitMQ (config/settings.py lists them)."""

import smtplib
import threading

from django.conf import settings

from emails.constants import HEARTBEAT_KEY
from notification_common.conf import common_settings
from notification_common.heartbeat import heartbeat_read


def check_consumer() -> dict:
    """``consume_emails`` is alive: its heartbeat in Redis is recent.

    A consumer paused on an open circuit (SMTP, template service) is "up" with
    ``"paused": true``: it is alive and doing the right thing (holding messages in the queue
    instead of spending their retries), so a 503 would only get a working process restarted;
    the outage itself shows in the dependency's own check (``smtp``) and in /metrics.
    """
    beat = heartbeat_read(HEARTBEAT_KEY)
    age = None if beat is None else beat["age_seconds"]
    max_age = settings.EMAIL_HEARTBEAT_MAX_AGE_SECONDS
    result = {"heartbeat_age_seconds": age, "max_age_seconds": max_age}
    if beat is not None:
        result["paused"] = bool(beat.get("paused"))
        result["oldest_message_age_seconds"] = beat.get("oldest_message_age_seconds")
        if result["paused"]:
            result["paused_on"] = beat.get("dependency")
            result["retry_in_seconds"] = beat.get("retry_in_seconds")
    if age is not None and age <= max_age:
        return {"status": "up", **result}
    error = "no heartbeat from consume_emails" if age is None else f"last heartbeat {age:.0f}s ago"
    if not settings.EMAIL_HEALTH_REQUIRE_CONSUMER:
        return {"status": "up", "warning": error, **result}
    return {"status": "down", "error": error, **result}


class _SmtpProbe:
    """One SMTP session per process, kept open for health checks and checked with NOOP, so
    a probe every few seconds does not open a connection (and an EHLO) each time. A session
    the server dropped (idle timeout, restart) is reopened once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._client: smtplib.SMTP | None = None
        self._target = None

    def check(self) -> dict:
        target = (settings.SMTP_HOST, settings.SMTP_PORT, settings.SMTP_USE_SSL)
        with self._lock:
            if target != self._target:
                self._close()
            if self._client is not None:
                try:
                    code, _ = self._client.noop()
                    if code == 250:
                        return {"status": "up", "host": target[0], "port": target[1], "reused": True}
                except (smtplib.SMTPException, OSError):
                    pass  # the server dropped the kept session (idle timeout, restart): reopen below
                self._close()
            return self._open(target)

    def _open(self, target) -> dict:
        host, port, use_ssl = target
        connection_class = smtplib.SMTP_SSL if use_ssl else smtplib.SMTP
        client = connection_class(
            host, port, timeout=common_settings.HEALTH_TIMEOUT_SECONDS, local_hostname="localhost"
        )
        code, _ = client.ehlo()
        if code == 250:
            code, _ = client.noop()
        if code != 250:
            client.close()
            return {"status": "down", "error": f"the SMTP server answered {code}"}
        self._client, self._target = client, target
        return {"status": "up", "host": host, "port": port, "reused": False}

    def _close(self) -> None:
        client, self._client, self._target = self._client, None, None
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()


_smtp_probe = _SmtpProbe()


def check_smtp() -> dict:
    """The SMTP server accepts a session and answers NOOP (nothing is sent)."""
    return _smtp_probe.check()
