"""Settings of the push service (port 8004): the shared base plus what is its own.

Every variable is documented in .env.example at the repository root.
"""

from pathlib import Path

from notification_common.django_settings import service_settings
from notification_common.env import env_float, env_int, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    service_settings(
        service="push_service",
        db_env="PUSH_DATABASE_URL",
        db_name="push_db",
        base_dir=BASE_DIR,
        local_apps=["pushes"],
        health_checks=("database", "redis", "rabbitmq"),
        health_extra_checks=("pushes.health.check_consumer",),
        title="Push Service",
    )
)

# The consumer checks its connection before every batch (close_old_connections): keep it
# open between batches instead of reconnecting each time.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("PUSH_DB_CONN_MAX_AGE", 60)  # noqa: F821 - from service_settings
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F821

# Status reports the consumer sends to the user service: their backlog shows in /metrics and
# health ("status_reports", degraded once the oldest waited longer than the threshold).
NOTIFICATION_COMMON["STATUS_REPORT_CHANNELS"] = ["push"]  # noqa: F821 - from service_settings
NOTIFICATION_COMMON["STATUS_REPORT_STUCK_SECONDS"] = env_int("STATUS_REPORT_STUCK_SECONDS", 300)  # noqa: F821

# firebase-admin opens more connections than its pool keeps for a non-Google host (the
# loopback FCM server) and urllib3 warns on each one it discards: noise, not a problem.
LOGGING["loggers"]["urllib3.connectionpool"] = {"level": "ERROR"}  # noqa: F821 - from service_settings

PUSH_SERVICE = {
    # A Google service-account key file. For make dev / tests the loopback FCM server writes
    # one whose token_uri points at itself (python -m notification_devtools.loopback.fcm).
    "FIREBASE_SERVICE_ACCOUNT_PATH": env_str(
        "FIREBASE_SERVICE_ACCOUNT_PATH", str(BASE_DIR.parent / "var" / "fcm" / "service-account.json")
    ),
    # Where messaging sends: FCM_ENDPOINT + "/v1/projects/{project}/messages:send".
    "FCM_ENDPOINT": env_url("FCM_ENDPOINT", "https://fcm.googleapis.com"),
    "FCM_HTTP_TIMEOUT": env_float("FCM_HTTP_TIMEOUT", 10.0),
    # FCM requests (one per device token) in flight at once.
    "FCM_SEND_CONCURRENCY": env_int("FCM_SEND_CONCURRENCY", 8),
    "FCM_CIRCUIT_FAILURE_THRESHOLD": env_int("FCM_CIRCUIT_FAILURE_THRESHOLD", 5),
    "FCM_CIRCUIT_RESET_SECONDS": env_float("FCM_CIRCUIT_RESET_SECONDS", 30.0),
    "CONSUMER_BATCH_SIZE": env_int("PUSH_CONSUMER_BATCH_SIZE", 50),
    "CONSUMER_PREFETCH": env_int("PUSH_CONSUMER_PREFETCH", 100),
    # Transient failures are retried for a time budget from the first attempt, backing off from
    # BASE doubling up to MAX, with jitter; MAX_ATTEMPTS also caps attempts (0: no cap). docs/operations.md
    "RETRY_BUDGET_SECONDS": env_float("PUSH_RETRY_BUDGET_SECONDS", 24 * 3600.0),
    "RETRY_BASE_SECONDS": env_float("PUSH_RETRY_BASE_SECONDS", 5.0),
    "RETRY_MAX_SECONDS": env_float("PUSH_RETRY_MAX_SECONDS", 600.0),
    "MAX_ATTEMPTS": env_int("PUSH_MAX_ATTEMPTS", 0),
    "RENDER_CONCURRENCY": env_int("PUSH_RENDER_CONCURRENCY", 8),
    "RENDER_CACHE_SIZE": env_int("PUSH_RENDER_CACHE_SIZE", 2048),
    "HEARTBEAT_MAX_AGE_SECONDS": env_int("PUSH_HEARTBEAT_MAX_AGE_SECONDS", 60),
    # Lease of a worker's claim on a notification, renewed just before each FCM call; it must
    # outlast one FCM call (docs/push_service.md, "State machine").
    "SENDING_LEASE_SECONDS": env_float("PUSH_SENDING_LEASE_SECONDS", 120.0),
}

SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {  # noqa: F821 - from service_settings
    "PushStatusEnum": "pushes.models.PushNotification.Status",
    "PushDeviceStatusEnum": "pushes.models.PushDeviceResult.Status",
}
