"""Settings of the user service (port 8001): the shared base plus what is its own.

Every variable is documented in .env.example at the repository root.
"""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from notification_common.django_settings import service_settings
from notification_common.env import env_float, env_int, env_rate, env_str
from notification_common.keys import read_key
from notification_common.unsubscribe import unsubscribe_common_settings

_shared = service_settings(
    service="user_service",
    db_env="USER_DATABASE_URL",
    db_name="user_db",
    base_dir=Path(__file__).resolve().parent.parent,
    local_apps=["users"],
    health_checks=("database", "redis"),
    title="User Service",
)
globals().update(_shared)

AUTH_USER_MODEL = "users.User"

# psycopg prepares a statement only when users/sql.py asks for it (prepare=True): the delivery
# path's fixed statements, planned once per connection. Django's own queries are bound on the
# client and never prepared. None here would turn preparing off altogether (Django's default).
_shared["DATABASES"]["default"]["OPTIONS"]["prepare_threshold"] = 2**31 - 1

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "name")},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 8)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Only this service signs user tokens; the others verify with the public key alone.
JWT_SIGNING_KEY = read_key(inline=env_str("JWT_PRIVATE_KEY"), path=_shared["JWT_PRIVATE_KEY_PATH"])
# In production a missing key is a system check error (notification.E008) named with the
# others, instead of this early stop.
JWT_SIGNS_USER_TOKENS = True
if not JWT_SIGNING_KEY and _shared["ENVIRONMENT"] != "production":
    raise ImproperlyConfigured(
        "The user service needs the JWT private key: set JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_PATH "
        f"(no file at {_shared['JWT_PRIVATE_KEY_PATH']})."
    )
_ACCESS_TOKEN_LIFETIME = timedelta(minutes=env_int("JWT_ACCESS_TOKEN_MINUTES", 15))
# A deactivated user stays on the deactivated-user list as long as a token issued before
# could still be valid (notification_common/user_denylist.py).
_shared["NOTIFICATION_COMMON"]["USER_DENYLIST_SECONDS"] = int(_ACCESS_TOKEN_LIFETIME.total_seconds()) + 60
# Verifies the one-click unsubscribe links the email service signs (UNSUBSCRIBE_SECRET).
_shared["NOTIFICATION_COMMON"].update(unsubscribe_common_settings())
SIMPLE_JWT = _shared["SIMPLE_JWT"]
SIMPLE_JWT.update(
    {
        "SIGNING_KEY": JWT_SIGNING_KEY,
        "ACCESS_TOKEN_LIFETIME": _ACCESS_TOKEN_LIFETIME,
        "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_TOKEN_DAYS", 7)),
        "USER_ID_FIELD": "id",
        "USER_ID_CLAIM": "user_id",
        "UPDATE_LAST_LOGIN": False,
    }
)

# Failed logins: counted per email and per client address; at the limit the next
# attempts get 429 with Retry-After until the window ends.
LOGIN_MAX_FAILURES_PER_EMAIL = env_int("LOGIN_MAX_FAILURES_PER_EMAIL", 5)
LOGIN_MAX_FAILURES_PER_IP = env_int("LOGIN_MAX_FAILURES_PER_IP", 20)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 300)
# Registrations accepted per client address (e.g. 20/h; 0 turns the limit off).
USER_REGISTRATION_RATE_LIMIT = env_rate("USER_REGISTRATION_RATE_LIMIT", "20/h")
# Upper bound on the number of status reports in one call.
STATUS_REPORT_MAX_BATCH = env_int("STATUS_REPORT_MAX_BATCH", 500)

REST_FRAMEWORK = _shared["REST_FRAMEWORK"]
REST_FRAMEWORK["TEST_REQUEST_DEFAULT_FORMAT"] = "json"
# Valid API-key verdicts kept in each worker's memory this long
# (notification_common/remembered_api_keys.py): a revoked key is refused here within this
# bound. 0 reads the shared verdict on every request.
API_KEY_LOCAL_CACHE_SECONDS = env_float("API_KEY_LOCAL_CACHE_SECONDS", 5.0)
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "notification_common.remembered_api_keys.RememberingApiKeyAuthentication"
    if path == "notification_common.authentication.ApiKeyAuthentication"
    else path
    for path in REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
]
