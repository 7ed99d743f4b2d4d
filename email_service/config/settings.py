"""Settings of the email service (port 8003): the shared base plus what is its own.

Every variable is documented in .env.example at the repository root.
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from notification_common.django_settings import service_settings
from notification_common.env import env_bool, env_float, env_int, env_str
from notification_common.unsubscribe import unsubscribe_common_settings

globals().update(
    service_settings(
        service="email_service",
        db_env="EMAIL_DATABASE_URL",
        db_name="email_db",
        base_dir=Path(__file__).resolve().parent.parent,
        local_apps=["emails"],
        health_checks=("database", "redis", "rabbitmq"),
        health_extra_checks=("emails.health.check_consumer", "emails.health.check_smtp"),
        title="Email Service",
    )
)

# SMTP (Django's SMTP backend, one connection reused by the consumer).
SMTP_HOST = env_str("SMTP_HOST", "127.0.0.1")
SMTP_PORT = env_int("SMTP_PORT", 1025)
SMTP_USERNAME = env_str("SMTP_USERNAME", "")
SMTP_PASSWORD = env_str("SMTP_PASSWORD", "")
SMTP_USE_TLS = env_bool("SMTP_USE_TLS", False)
SMTP_USE_SSL = env_bool("SMTP_USE_SSL", False)
SMTP_TIMEOUT = env_float("SMTP_TIMEOUT", 10.0)
EMAIL_FROM = env_str("EMAIL_FROM", "Notifications <no-reply@notifications.local>")
if SMTP_USE_TLS and SMTP_USE_SSL:
    raise ImproperlyConfigured("SMTP_USE_TLS and SMTP_USE_SSL are mutually exclusive: set at most one.")

# Django's own mail settings follow the same server (admin error mails, send_mail()).
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST, EMAIL_PORT, EMAIL_TIMEOUT = SMTP_HOST, SMTP_PORT, SMTP_TIMEOUT
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = SMTP_USERNAME, SMTP_PASSWORD
EMAIL_USE_TLS, EMAIL_USE_SSL = SMTP_USE_TLS, SMTP_USE_SSL
DEFAULT_FROM_EMAIL = SERVER_EMAIL = EMAIL_FROM

# Status reports the consumer sends to the user service: their backlog shows in /metrics and
# health ("status_reports", degraded once the oldest waited longer than the threshold).
NOTIFICATION_COMMON["STATUS_REPORT_CHANNELS"] = ["email"]  # noqa: F821 - from service_settings
NOTIFICATION_COMMON["STATUS_REPORT_STUCK_SECONDS"] = env_int("STATUS_REPORT_STUCK_SECONDS", 300)  # noqa: F821
# Signs the List-Unsubscribe links of non-required categories (UNSUBSCRIBE_SECRET, PUBLIC_BASE_URL).
NOTIFICATION_COMMON.update(unsubscribe_common_settings())  # noqa: F821

# The consumer (manage.py consume_emails).
# Transient failures are retried for a time budget from the first attempt (a provider outage
# lasts minutes to hours), backing off from BASE doubling up to MAX, with jitter; then failed.queue.
# EMAIL_MAX_ATTEMPTS caps attempts as well (0: no cap, the budget alone decides). docs/operations.md
EMAIL_RETRY_BUDGET_SECONDS = env_float("EMAIL_RETRY_BUDGET_SECONDS", 24 * 3600.0)
EMAIL_RETRY_BASE_SECONDS = env_float("EMAIL_RETRY_BASE_SECONDS", 5.0)
EMAIL_RETRY_MAX_SECONDS = env_float("EMAIL_RETRY_MAX_SECONDS", 600.0)
EMAIL_MAX_ATTEMPTS = env_int("EMAIL_MAX_ATTEMPTS", 0)
EMAIL_CONSUMER_PREFETCH = env_int("EMAIL_CONSUMER_PREFETCH", 100)
EMAIL_CONSUMER_BATCH_SIZE = env_int("EMAIL_CONSUMER_BATCH_SIZE", 50)
EMAIL_SENDING_LEASE_SECONDS = env_float("EMAIL_SENDING_LEASE_SECONDS", 120.0)
EMAIL_SMTP_BREAKER_THRESHOLD = env_int("EMAIL_SMTP_BREAKER_THRESHOLD", 5)
EMAIL_SMTP_BREAKER_RESET_SECONDS = env_float("EMAIL_SMTP_BREAKER_RESET_SECONDS", 30.0)
EMAIL_DEFAULT_LANGUAGE = env_str("EMAIL_DEFAULT_LANGUAGE", "en")

# Local rendering (notification_common.template_versions): active versions fetched at once
# by a batch, compiled versions kept. How long an active version is trusted is the shared
# TEMPLATE_ACTIVE_VERSION_TTL_SECONDS.
EMAIL_RENDER_CONCURRENCY = env_int("EMAIL_RENDER_CONCURRENCY", 4)
EMAIL_RENDER_CACHE_SIZE = env_int("EMAIL_RENDER_CACHE_SIZE", 10_000)

# Health: the consumer's heartbeat (Redis) must be this fresh.
EMAIL_HEARTBEAT_MAX_AGE_SECONDS = env_float("EMAIL_HEARTBEAT_MAX_AGE_SECONDS", 30.0)
EMAIL_HEALTH_REQUIRE_CONSUMER = env_bool("EMAIL_HEALTH_REQUIRE_CONSUMER", True)
