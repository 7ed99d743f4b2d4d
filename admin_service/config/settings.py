"""Settings of the admin service (port 8005): the shared base plus what is its own.

Every variable is documented in .env.example at the repository root.
"""

from pathlib import Path

from platform_admin.tokens import DEV_ADMIN_JWT_SECRET, parse_admin_jwt_secrets

from notification_common.django_settings import service_settings
from notification_common.env import env_float, env_int, env_str, env_url

_base = service_settings(
    service="admin_service",
    db_env="ADMIN_DATABASE_URL",
    db_name="admin_db",
    base_dir=Path(__file__).resolve().parent.parent,
    local_apps=["platform_admin"],
    health_checks=("database", "redis", "rabbitmq"),
    title="Admin Service",
)

# The admin site is ours: same accounts, plus the operations pages (dashboard, users,
# templates). The subclassed AdminConfig swaps in the custom AdminSite.
_base["INSTALLED_APPS"] = [
    "platform_admin.admin_site.PlatformAdminSiteConfig" if app == "django.contrib.admin" else app
    for app in _base["INSTALLED_APPS"]
]

# Admin tokens are the only credential of this API (docs/admin_service.md): a platform
# user token is refused here, and an admin token (HS256, audience notification-admin) is
# refused by every other service, which only accepts RS256 tokens for notification-platform.
# API keys are accepted only where an endpoint asks for them (the key check).
_base["REST_FRAMEWORK"]["DEFAULT_AUTHENTICATION_CLASSES"] = ["platform_admin.authentication.AdminJWTAuthentication"]
_base["REST_FRAMEWORK"]["DEFAULT_PERMISSION_CLASSES"] = ["rest_framework.permissions.IsAdminUser"]
_base["REST_FRAMEWORK"]["TEST_REQUEST_DEFAULT_FORMAT"] = "json"

# Keys are verified against this service's own database rather than over HTTP to itself.
_base["NOTIFICATION_COMMON"]["API_KEY_LOCAL_VERIFIER"] = "platform_admin.services.api_key_verify"

globals().update(_base)

# Admin tokens have signing keys of their own, never SECRET_KEY: "kid=secret;kid2=secret".
# The first signs, every one verifies, so a next key can be added before it takes over
# (rotation: docs/operations.md). ADMIN_JWT_SECRET alone is one key with kid "primary".
# Outside production a built-in dev key applies; in production a missing, default or short
# key stops the service (notification.E004).
ADMIN_JWT_SECRETS = parse_admin_jwt_secrets(
    env_str("ADMIN_JWT_SECRETS"),
    single=env_str("ADMIN_JWT_SECRET"),
    default="" if _base["ENVIRONMENT"] == "production" else DEV_ADMIN_JWT_SECRET,
)
ADMIN_JWT_SIGNING_KID = next(iter(ADMIN_JWT_SECRETS), "")
ADMIN_JWT_SECRET = ADMIN_JWT_SECRETS.get(ADMIN_JWT_SIGNING_KID, "")
PRODUCTION_SECRET_SETTINGS = {"ADMIN_JWT_SECRETS": "ADMIN_JWT_SECRETS"}
ADMIN_JWT_ALGORITHM = "HS256"
ADMIN_JWT_AUDIENCE = "notification-admin"
ADMIN_JWT_ISSUER = "admin_service"
ADMIN_ACCESS_TOKEN_MINUTES = env_int("ADMIN_ACCESS_TOKEN_MINUTES", 30)
ADMIN_REFRESH_TOKEN_HOURS = env_int("ADMIN_REFRESH_TOKEN_HOURS", 12)

# Login attempts per account name and per client address in a window; a success resets
# the account's counter.
ADMIN_LOGIN_ATTEMPTS_PER_ACCOUNT = env_int("ADMIN_LOGIN_ATTEMPTS_PER_ACCOUNT", 5)
ADMIN_LOGIN_ATTEMPTS_PER_IP = env_int("ADMIN_LOGIN_ATTEMPTS_PER_IP", 30)
ADMIN_LOGIN_WINDOW_SECONDS = env_int("ADMIN_LOGIN_WINDOW_SECONDS", 900)

# last_used_at of an API key is written to the database at most this often per key.
API_KEY_USAGE_FLUSH_SECONDS = env_int("API_KEY_USAGE_FLUSH_SECONDS", 60)

# The other services, for the dashboard (USER_ and TEMPLATE_SERVICE_URL come from the base).
GATEWAY_SERVICE_URL = env_url("GATEWAY_SERVICE_URL", "http://127.0.0.1:8000")
EMAIL_SERVICE_URL = env_url("EMAIL_SERVICE_URL", "http://127.0.0.1:8003")
PUSH_SERVICE_URL = env_url("PUSH_SERVICE_URL", "http://127.0.0.1:8004")
# Short on purpose: a service that does not answer quickly is shown as down.
DASHBOARD_TIMEOUT_SECONDS = env_float("DASHBOARD_TIMEOUT_SECONDS", 2.0)

# consume_dead_letters: unacked messages held at once.
DEAD_LETTER_PREFETCH = env_int("DEAD_LETTER_PREFETCH", 20)

# Admin accounts hold the keys to the platform: Django's password rules apply.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
