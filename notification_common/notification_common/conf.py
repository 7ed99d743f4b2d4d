"""The shared library's settings: one ``NOTIFICATION_COMMON`` dict with a table of defaults.

``DEFAULTS`` is the one place a default lives: ``django_settings.service_settings()`` reads
each setting of ``COMMON_FROM_ENV`` from the environment variable of its name with the default
from here, and a service overrides only what differs.

Read as ``common_settings.SERVICE_NAME``; values follow ``override_settings`` in tests.
"""

from django.conf import settings
from django.core.signals import setting_changed

# The local servers every entry point falls back to (settings, the topology CLI, make infra,
# the e2e launcher): one broker vhost, one Redis database.
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/notifications"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

DEFAULTS = {
    "SERVICE_NAME": "service",
    "RABBITMQ_URL": DEFAULT_RABBITMQ_URL,
    "REDIS_URL": DEFAULT_REDIS_URL,
    # Tokens issued by the user service; every service verifies them with the public key only.
    "JWT_ALGORITHM": "RS256",
    "JWT_PUBLIC_KEY": "",
    # More public keys accepted by key id (kid): the next key before a rotation, the previous
    # one after it (jwt_keys.py).
    "JWT_ADDITIONAL_PUBLIC_KEYS": [],
    "JWT_AUDIENCE": "notification-platform",
    "JWT_ISSUER": "user_service",
    # API keys: verified through the admin service, cached in Redis; bootstrap keys from the env.
    "ADMIN_SERVICE_URL": "",
    "SERVICE_API_KEY": "",
    "BOOTSTRAP_API_KEYS": {},
    "API_KEY_CACHE_SECONDS": 30,
    # Load shedding (overload.py): a request that waited longer than this for a thread gets
    # 503 with Retry-After at once (0 turns it off).
    "OVERLOAD_MAX_QUEUE_SECONDS": 0.5,
    "OVERLOAD_RETRY_AFTER_SECONDS": 1,
    # Deactivated users (user_denylist.py): listed as long as an access token lives, and
    # each process remembers an answer this long (the delay before tokens stop working).
    "USER_DENYLIST_SECONDS": 3600,
    "USER_DENYLIST_CHECK_SECONDS": 2.0,
    # A key verified within this long keeps working while the admin service is down.
    "API_KEY_GRACE_SECONDS": 3600,
    # A revocation is remembered this long (through admin-service outages too).
    "API_KEY_REVOKED_CACHE_SECONDS": 7 * 24 * 3600,
    # Failed key lookups allowed per client address per minute, then 429 (0: no limit).
    "API_KEY_FAILED_LOOKUPS_PER_MINUTE": 60,
    # Dotted path to ``f(raw_key) -> ApiKeyInfo | None`` used instead of asking the admin
    # service over HTTP (the admin service itself sets this to its database lookup).
    "API_KEY_LOCAL_VERIFIER": None,
    # Outbound HTTP between services.
    "HTTP_CONNECT_TIMEOUT": 2.0,
    "HTTP_READ_TIMEOUT": 5.0,
    "HTTP_RETRIES": 2,
    "HTTP_BACKOFF_SECONDS": 0.1,
    "CIRCUIT_FAILURE_THRESHOLD": 5,
    "CIRCUIT_RESET_SECONDS": 15.0,
    # A half-open trial that never reports back is forgotten after this long.
    "CIRCUIT_TRIAL_TIMEOUT_SECONDS": 30.0,
    # Consumers render templates locally (template_versions.py): how long the answer "which
    # version is active for (code, language)" is kept, so the bound on an activation's delay.
    "TEMPLATE_ACTIVE_VERSION_TTL_SECONDS": 5.0,
    # Retry-After of a 503 answered while a database, Redis, the broker or a service is down.
    "OUTAGE_RETRY_AFTER_SECONDS": 5,
    # Status reports this service's workers send ("email", "push"): their backlog shows in
    # health (degraded once the oldest waited longer than STATUS_REPORT_STUCK_SECONDS) and /metrics.
    "STATUS_REPORT_CHANNELS": [],
    "STATUS_REPORT_STUCK_SECONDS": 300,
    # A worker's status reporter, once it holds a report, waits up to this long for more
    # (or until 100) before it posts them in one call: bigger batches cost the user service
    # far less per report, and each report is at most this much later.
    "STATUS_REPORT_LINGER_SECONDS": 0.05,
    # Health: the dependency checks this service runs ("database", "redis", "rabbitmq")
    # plus dotted paths to callables returning a dict {"status": "up"|"down", ...details}.
    "HEALTH_CHECKS": ["database", "redis"],
    "HEALTH_EXTRA_CHECKS": [],
    "HEALTH_TIMEOUT_SECONDS": 2.0,
    # Proxies (addresses or networks) whose X-Forwarded-For entries are believed (client_ip.py).
    "TRUSTED_PROXIES": [],
    # One-click unsubscribe (unsubscribe.py): set by the email service (signs links) and the
    # user service (serves them); the secret is the same in both.
    "UNSUBSCRIBE_SECRET": "",
    "PUBLIC_BASE_URL": "http://127.0.0.1:8001",
}


class CommonSettings:
    def __init__(self, defaults: dict):
        self._defaults = defaults
        self._cache: dict = {}

    def __getattr__(self, name: str):
        if name not in self._defaults:
            raise AttributeError(f"Unknown NOTIFICATION_COMMON setting: {name}")
        if name not in self._cache:
            user = getattr(settings, "NOTIFICATION_COMMON", {})
            self._cache[name] = user.get(name, self._defaults[name])
        return self._cache[name]

    def reload(self) -> None:
        self._cache.clear()


common_settings = CommonSettings(DEFAULTS)


def _reload(*, setting, **kwargs):
    if setting == "NOTIFICATION_COMMON":
        common_settings.reload()


setting_changed.connect(_reload)
