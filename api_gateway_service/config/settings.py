"""Settings of the api gateway (port 8000): the shared base plus what is its own.

Every variable is documented in .env.example at the repository root.
"""

from pathlib import Path

from notification_common.django_settings import service_settings
from notification_common.env import env_float, env_int, env_str

_shared = service_settings(
    service="api_gateway_service",
    db_env="GATEWAY_DATABASE_URL",
    db_name="api_gateway_db",
    base_dir=Path(__file__).resolve().parent.parent,
    local_apps=["notifications", "webhooks"],
    health_checks=("database", "redis", "rabbitmq"),
    health_extra_checks=("notifications.health.check_outbox",),
    title="API Gateway",
)
globals().update(_shared)

# --- the gateway's own settings (docs/api_gateway.md) ---
# Django's connection health check (a SELECT 1 per request) only for a connection that ran no
# query for this long; one in steady use is trusted and checked after an error instead
# (config/postgresql/base.py). 0: before every request.
_shared["DATABASES"]["default"]["ENGINE"] = "config.postgresql"
GATEWAY_DB_HEALTH_CHECK_IDLE_SECONDS = env_float("GATEWAY_DB_HEALTH_CHECK_IDLE_SECONDS", 1.0)
# Valid API-key verdicts kept in each worker's memory this long instead of a Redis read per
# request (notification_common/remembered_api_keys.py): a revoked key is refused within this
# bound. 0 reads the shared verdict on every request.
API_KEY_LOCAL_CACHE_SECONDS = env_float("API_KEY_LOCAL_CACHE_SECONDS", 5.0)
_shared["REST_FRAMEWORK"]["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "notification_common.remembered_api_keys.RememberingApiKeyAuthentication"
    if path == "notification_common.authentication.ApiKeyAuthentication"
    else path
    for path in _shared["REST_FRAMEWORK"]["DEFAULT_AUTHENTICATION_CLASSES"]
]
# How long a user fetched from the user service is reused from Redis.
USER_CACHE_SECONDS = env_int("USER_CACHE_SECONDS", 300)
# The gateway's body cap: a bulk request carries up to 1,000 notifications (about 250 bytes
# each with a few variables), more than the other services' MAX_REQUEST_BYTES.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("GATEWAY_MAX_REQUEST_BYTES", 2 * 1024 * 1024)
# How long whether a template may be triggered by user tokens is cached (template service).
TEMPLATE_CACHE_SECONDS = env_int("TEMPLATE_CACHE_SECONDS", 60)
# Sends allowed per window: per API key, and per user token (a user may only notify itself).
RATE_LIMIT_PER_KEY = env_int("RATE_LIMIT_PER_KEY", 20000)
RATE_LIMIT_PER_USER = env_int("RATE_LIMIT_PER_USER", 60)
RATE_LIMIT_WINDOW_SECONDS = env_int("RATE_LIMIT_WINDOW_SECONDS", 60)
# Bounds of the `variables` and `metadata` objects of a request (serialized bytes, keys).
NOTIFICATION_OBJECT_MAX_BYTES = env_int("NOTIFICATION_OBJECT_MAX_BYTES", 16 * 1024)
NOTIFICATION_OBJECT_MAX_KEYS = env_int("NOTIFICATION_OBJECT_MAX_KEYS", 100)
# Language put in the message when the request names none (the template service falls back
# from it to the template's default language).
NOTIFICATION_DEFAULT_LANGUAGE = env_str("NOTIFICATION_DEFAULT_LANGUAGE", "en")
# How far ahead a request's send_at may lie (docs/api.md, "Scheduled sends"). The relay's
# poll interval bounds how late a due notification is published.
NOTIFICATION_SEND_AT_MAX_DAYS = env_int("NOTIFICATION_SEND_AT_MAX_DAYS", 30)
# Most notifications one POST /api/v1/notifications/bulk/ may carry.
NOTIFICATION_BULK_MAX_ITEMS = env_int("NOTIFICATION_BULK_MAX_ITEMS", 1000)
# Quiet hours: a notification below this priority (1..10) that falls inside the user's quiet
# hours is deferred to their end; at or above it, it goes out at once.
QUIET_HOURS_URGENT_PRIORITY = env_int("QUIET_HOURS_URGENT_PRIORITY", 10)
# Outbox relay: poll interval, rows per batch, and the age a row must reach before the relay
# takes it (so it does not race the publish that follows the request's commit).
OUTBOX_RELAY_INTERVAL_SECONDS = env_float("OUTBOX_RELAY_INTERVAL_SECONDS", 0.5)
OUTBOX_RELAY_BATCH_SIZE = env_int("OUTBOX_RELAY_BATCH_SIZE", 100)
OUTBOX_RELAY_GRACE_SECONDS = env_float("OUTBOX_RELAY_GRACE_SECONDS", 2.0)
# After a failed publish, requests leave publishing to the relay for this long instead of
# each waiting on a broker that is down.
OUTBOX_PUBLISH_BACKOFF_SECONDS = env_float("OUTBOX_PUBLISH_BACKOFF_SECONDS", 5.0)
# Health reports the outbox "down" when its oldest unpublished row is older than this.
OUTBOX_STALE_SECONDS = env_int("OUTBOX_STALE_SECONDS", 300)
# A row the broker refuses (unroutable, nacked) is tried this many times, waiting
# base * 2**(n-1) seconds (capped) after the n-th refusal, then parked until an operator
# replays it; the rows behind it keep flowing. Broker outages never count.
OUTBOX_MAX_PUBLISH_ATTEMPTS = env_int("OUTBOX_MAX_PUBLISH_ATTEMPTS", 8)
OUTBOX_RETRY_BASE_SECONDS = env_float("OUTBOX_RETRY_BASE_SECONDS", 2.0)
OUTBOX_RETRY_MAX_SECONDS = env_float("OUTBOX_RETRY_MAX_SECONDS", 300.0)
# Status webhooks (docs/api_gateway.md, "Status webhooks"): a failed POST (non-2xx, timeout)
# is retried after base * 2**(n-1) seconds (capped, jittered) until the budget after the event.
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 10.0)
WEBHOOK_RETRY_MAX_SECONDS = env_float("WEBHOOK_RETRY_MAX_SECONDS", 3600.0)
WEBHOOK_RETRY_BUDGET_SECONDS = env_int("WEBHOOK_RETRY_BUDGET_SECONDS", 24 * 3600)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
# A delivery in flight is left alone by other dispatchers for the timeout plus this margin.
WEBHOOK_LEASE_MARGIN_SECONDS = env_float("WEBHOOK_LEASE_MARGIN_SECONDS", 30.0)
WEBHOOK_SEND_BATCH_SIZE = env_int("WEBHOOK_SEND_BATCH_SIZE", 50)
# Reading final statuses from the user service: page size, poll interval, and how old (by the
# user service's clock) an event must be before it is read, so late commits are never skipped.
WEBHOOK_STATUS_PAGE_SIZE = env_int("WEBHOOK_STATUS_PAGE_SIZE", 500)
WEBHOOK_POLL_INTERVAL_SECONDS = env_float("WEBHOOK_POLL_INTERVAL_SECONDS", 1.0)
WEBHOOK_STATUS_SETTLE_SECONDS = env_float("WEBHOOK_STATUS_SETTLE_SECONDS", 2.0)
