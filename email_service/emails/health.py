"""Health checks of the email service beyond database/Redis/RabbitMQ (config/settings.py lists them)."""

import smtplib

from django.conf import settings

from emails.heartbeat import heartbeat_read
from notification_common.conf import common_settings


def check_consumer() -> dict:
    """``consume_emails`` is alive: its heartbeat in Redis is recent.

    A consumer paused on an open circuit (SMTP, template service) is "up" with
    ``"paused": true``: it is alive and doing the right thing (holding messages in the queue
    instead of spending their retries), so a 503 would only get a working process restarted;
    the outage itself shows in the dependency's own check (``smtp``) and in /metrics.
    """
    beat = heartbeat_read()
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


def check_smtp() -> dict:
    """The SMTP server accepts a connection and answers EHLO and NOOP (nothing is sent)."""
    timeout = common_settings.HEALTH_TIMEOUT_SECONDS
    connection_class = smtplib.SMTP_SSL if settings.SMTP_USE_SSL else smtplib.SMTP
    client = connection_class(settings.SMTP_HOST, settings.SMTP_PORT, timeout=timeout, local_hostname="localhost")
    try:
        code, _ = client.ehlo()
        if code != 250:
            return {"status": "down", "error": f"EHLO answered {code}"}
        code, _ = client.noop()
        if code != 250:
            return {"status": "down", "error": f"NOOP answered {code}"}
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
    return {"status": "up", "host": settings.SMTP_HOST, "port": settings.SMTP_PORT}
