"""The settings every service shares, built from environment variables.

A service's ``config/settings.py`` calls ``service_settings(...)`` and adds only what is
its own. Every variable is listed with its default in ``.env.example``.

``ENVIRONMENT`` (development, test, production; default production) decides what a missing
variable means: outside production the working local defaults apply; in production the
secrets and hosts must be set and ``notification_common.checks`` refuses to start without
them (docs/operations.md, "Production settings").
"""

from pathlib import Path

from notification_common.conf import DEFAULT_RABBITMQ_URL, DEFAULT_REDIS_URL
from notification_common.conf import DEFAULTS as COMMON_DEFAULTS
from notification_common.env import (
    database_from_url,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
    parse_api_keys,
)
from notification_common.keys import ensure_dev_keypair, read_key, read_keys
from notification_common.logging import logging_config

# The shared library's settings read straight from the environment variable of the same name,
# with the parser for its type; their defaults live once, in conf.DEFAULTS.
COMMON_FROM_ENV = {
    "JWT_AUDIENCE": env_str,
    "JWT_ISSUER": env_str,
    "API_KEY_CACHE_SECONDS": env_int,
    "API_KEY_GRACE_SECONDS": env_int,
    "API_KEY_REVOKED_CACHE_SECONDS": env_int,
    "API_KEY_FAILED_LOOKUPS_PER_MINUTE": env_int,
    "HTTP_CONNECT_TIMEOUT": env_float,
    "HTTP_READ_TIMEOUT": env_float,
    "HTTP_RETRIES": env_int,
    "CIRCUIT_FAILURE_THRESHOLD": env_int,
    "CIRCUIT_RESET_SECONDS": env_float,
    "CIRCUIT_TRIAL_TIMEOUT_SECONDS": env_float,
    "OUTAGE_RETRY_AFTER_SECONDS": env_int,
    "TEMPLATE_ACTIVE_VERSION_TTL_SECONDS": env_float,
    "STATUS_REPORT_LINGER_SECONDS": env_float,
    "TRUSTED_PROXIES": env_list,
    "OVERLOAD_MAX_QUEUE_SECONDS": env_float,
}

DEV_INTERNAL_KEY = "dev-internal-key-change-me"
DEV_SENDER_KEY = "dev-sender-key-change-me"

DEVELOPMENT, TEST, PRODUCTION = "development", "test", "production"
ENVIRONMENTS = (DEVELOPMENT, TEST, PRODUCTION)
# Fail closed: a deployment that forgets ENVIRONMENT gets production's checks, not the dev
# defaults. make dev, the tests, the e2e launcher and the benchmarks set it themselves.
DEFAULT_ENVIRONMENT = PRODUCTION
# Health and metrics answer plain HTTP probes even where HTTP redirects to HTTPS.
SSL_REDIRECT_EXEMPT = [r"^api/v1/health/", r"^metrics$"]


def _proxy_ssl_header(raw: str) -> tuple[str, str] | None:
    """ "HTTP_X_FORWARDED_PROTO=https" -> ("HTTP_X_FORWARDED_PROTO", "https"); "" -> None."""
    if not raw.strip():
        return None
    header, _, value = raw.partition("=")
    if not header.strip().startswith("HTTP_") or not value.strip():
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"DJANGO_SECURE_PROXY_SSL_HEADER must look like HTTP_X_FORWARDED_PROTO=https, got {raw!r}"
        )
    return header.strip(), value.strip()


def service_settings(
    *,
    service: str,
    db_env: str,
    db_name: str,
    base_dir: Path,
    local_apps: list[str],
    health_checks: tuple[str, ...] = ("database", "redis"),
    health_extra_checks: tuple[str, ...] = (),
    title: str = "",
) -> dict:
    repo_dir = base_dir.parent
    environment = env_choice("ENVIRONMENT", DEFAULT_ENVIRONMENT, ENVIRONMENTS)
    production = environment == PRODUCTION
    debug = env_bool("DJANGO_DEBUG", False)
    keys_dir = repo_dir / "var" / "keys"
    private_key_path = env_str("JWT_PRIVATE_KEY_PATH", str(keys_dir / "jwt_private.pem"))
    public_key_path = env_str("JWT_PUBLIC_KEY_PATH", str(keys_dir / "jwt_public.pem"))
    # The dev pair is generated for a fresh checkout only; production brings its own keys
    # (a missing key is a system check error there, see notification_common.checks).
    if not production and not env_str("JWT_PUBLIC_KEY") and Path(public_key_path).parent == keys_dir:
        ensure_dev_keypair(Path(private_key_path), Path(public_key_path))
    public_key = read_key(inline=env_str("JWT_PUBLIC_KEY"), path=public_key_path)
    additional_key_paths = env_list("JWT_ADDITIONAL_PUBLIC_KEY_PATHS", [])
    additional_public_keys = read_keys(additional_key_paths, "JWT_ADDITIONAL_PUBLIC_KEY_PATHS")
    redis_url = env_url("REDIS_URL", DEFAULT_REDIS_URL, schemes=("redis", "rediss"))
    rabbitmq_url = env_url("RABBITMQ_URL", DEFAULT_RABBITMQ_URL, schemes=("amqp", "amqps"))
    database = database_from_url(env_str(db_env, f"postgres://{service}:{service}@127.0.0.1:5432/{db_name}"))
    static_root = Path(env_str("STATIC_ROOT", str(repo_dir / "var" / "static" / service)))
    static_root.mkdir(parents=True, exist_ok=True)  # whitenoise expects it, even before collectstatic
    database["OPTIONS"] = {"connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 3)}

    return {
        "BASE_DIR": base_dir,
        "ENVIRONMENT": environment,
        # Where the dev key pair lives: production must not verify or sign with it.
        "JWT_DEV_KEYS_DIR": str(keys_dir),
        # The built-in default stays in place (Django refuses an empty key); production's
        # checks name it as a default left unset.
        "SECRET_KEY": env_str("DJANGO_SECRET_KEY", f"dev-insecure-{service}-secret-key-change-me"),
        "DEBUG": debug,
        "ALLOWED_HOSTS": env_list("ALLOWED_HOSTS", [] if production else ["*"]),
        "CSRF_TRUSTED_ORIGINS": env_list("CSRF_TRUSTED_ORIGINS", []),
        # TLS, for deployments behind a TLS-terminating proxy (docs/operations.md). Production
        # defaults are the safe ones; development and tests speak plain HTTP. The redirect is
        # opt-in: the services call each other over plain HTTP on a private network (compose,
        # Kubernetes), where a redirect would break every internal call; the proxy redirects.
        "SECURE_SSL_REDIRECT": env_bool("DJANGO_SECURE_SSL_REDIRECT", False),
        "SECURE_REDIRECT_EXEMPT": SSL_REDIRECT_EXEMPT,
        "SECURE_PROXY_SSL_HEADER": _proxy_ssl_header(env_str("DJANGO_SECURE_PROXY_SSL_HEADER", "")),
        "SECURE_HSTS_SECONDS": env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000 if production else 0),
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", production),
        # Preloading is hard to undo (browsers ship the list): opt in explicitly.
        "SECURE_HSTS_PRELOAD": env_bool("DJANGO_SECURE_HSTS_PRELOAD", False),
        "SESSION_COOKIE_SECURE": env_bool("DJANGO_SESSION_COOKIE_SECURE", production),
        "CSRF_COOKIE_SECURE": env_bool("DJANGO_CSRF_COOKIE_SECURE", production),
        "INSTALLED_APPS": [
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "rest_framework",
            "drf_spectacular",
            "drf_spectacular_sidecar",
            "notification_common.apps.NotificationCommonConfig",
            *local_apps,
        ],
        "MIDDLEWARE": [
            "notification_common.middleware.MetricsMiddleware",
            "notification_common.overload.OverloadMiddleware",
            "notification_common.middleware.RequestIdMiddleware",
            "notification_common.middleware.OutageMiddleware",
            "django.middleware.security.SecurityMiddleware",
            "whitenoise.middleware.WhiteNoiseMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        "ROOT_URLCONF": "config.urls",
        "WSGI_APPLICATION": "config.wsgi.application",
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        "DATABASES": {"default": database},
        "CACHES": {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
                "KEY_PREFIX": service,
                "TIMEOUT": 300,
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        },
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "LANGUAGE_CODE": "en-us",
        "TIME_ZONE": "UTC",
        "USE_I18N": True,
        "USE_TZ": True,
        "STATIC_URL": "/static/",
        "STATIC_ROOT": str(static_root),
        "WHITENOISE_USE_FINDERS": True,
        "DATA_UPLOAD_MAX_MEMORY_SIZE": env_int("MAX_REQUEST_BYTES", 256 * 1024),
        # Highest ?page= of any list; beyond it a 400 (notification_common.pagination).
        "PAGINATION_MAX_PAGE": env_int("PAGINATION_MAX_PAGE", 10_000),
        "LOGGING": logging_config(service=service, level=env_str("LOG_LEVEL", "INFO")),
        "REST_FRAMEWORK": {
            "DEFAULT_AUTHENTICATION_CLASSES": [
                "notification_common.authentication.PlatformJWTAuthentication",
                "notification_common.authentication.ApiKeyAuthentication",
            ],
            "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "DEFAULT_PARSER_CLASSES": ["notification_common.parsers.BoundedJSONParser"],
            "DEFAULT_PAGINATION_CLASS": "notification_common.pagination.PageLimitPagination",
            "EXCEPTION_HANDLER": "notification_common.exceptions.exception_handler",
            "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
            "UNAUTHENTICATED_USER": None,
        },
        "SIMPLE_JWT": {
            "ALGORITHM": "RS256",
            "SIGNING_KEY": "",
            "VERIFYING_KEY": public_key,
            "AUDIENCE": env_str("JWT_AUDIENCE", COMMON_DEFAULTS["JWT_AUDIENCE"]),
            "ISSUER": env_str("JWT_ISSUER", COMMON_DEFAULTS["JWT_ISSUER"]),
            "USER_ID_FIELD": "id",
            "USER_ID_CLAIM": "user_id",
        },
        "SPECTACULAR_SETTINGS": {
            "TITLE": title or service.replace("_", " ").title(),
            "VERSION": "1.0.0",
            "SERVE_INCLUDE_SCHEMA": False,
            "COMPONENT_SPLIT_REQUEST": True,
            # Swagger UI's files ship with the sidecar package: no CDN.
            "SWAGGER_UI_DIST": "SIDECAR",
            "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
            # The envelope around every response and the errors each operation gives (schema.py).
            "POSTPROCESSING_HOOKS": [
                "drf_spectacular.hooks.postprocess_schema_enums",
                "notification_common.schema.postprocess_envelope",
            ],
        },
        "JWT_PRIVATE_KEY_PATH": private_key_path,
        "JWT_PUBLIC_KEY_PATH": public_key_path,
        "USER_SERVICE_URL": env_url("USER_SERVICE_URL", "http://127.0.0.1:8001"),
        "TEMPLATE_SERVICE_URL": env_url("TEMPLATE_SERVICE_URL", "http://127.0.0.1:8002"),
        "NOTIFICATION_COMMON": {
            "SERVICE_NAME": service,
            "RABBITMQ_URL": rabbitmq_url,
            "REDIS_URL": redis_url,
            "JWT_ALGORITHM": "RS256",
            "JWT_PUBLIC_KEY": public_key,
            "JWT_ADDITIONAL_PUBLIC_KEYS": additional_public_keys,
            "ADMIN_SERVICE_URL": env_str("ADMIN_SERVICE_URL", "http://127.0.0.1:8005").rstrip("/"),
            "SERVICE_API_KEY": env_str("SERVICE_API_KEY", DEV_INTERNAL_KEY),
            "BOOTSTRAP_API_KEYS": parse_api_keys(
                env_str("BOOTSTRAP_API_KEYS", f"{DEV_INTERNAL_KEY}=internal;{DEV_SENDER_KEY}=notifications:send")
            ),
            "HEALTH_CHECKS": list(health_checks),
            "HEALTH_EXTRA_CHECKS": list(health_extra_checks),
            # The rest: each from the environment variable of its name, defaulting to conf.DEFAULTS.
            **{name: read(name, COMMON_DEFAULTS[name]) for name, read in COMMON_FROM_ENV.items()},
        },
    }
