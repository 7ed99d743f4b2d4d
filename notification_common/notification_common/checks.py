"""Fail closed in production: system checks that refuse to start on the repository's defaults.

Every default secret in this repository is public, so a production deployment that forgets a
variable must not start. The checks run at ``manage.py check`` (and before every other
command that runs checks: migrate, the consumers) and at WSGI start (``config/wsgi.py`` calls
``refuse_to_start_on_errors``). Outside production they report nothing: the dev defaults
are what make ``make dev`` and the tests work. docs/operations.md, "Production settings".
"""

from pathlib import Path

from django.conf import settings
from django.core import checks

from notification_common.django_settings import DEV_INTERNAL_KEY, DEV_SENDER_KEY, PRODUCTION

PRODUCTION_TAG = "notification_production"

MIN_SECRET_LENGTH = 32
# Django's own deploy check (security.W009) asks 50 characters of a SECRET_KEY.
MIN_DJANGO_SECRET_KEY_LENGTH = 50

# Values shipped in this repository (settings defaults, .env.example, docker-compose.yml);
# anything naming itself insecure or "change-me" is one too.
KNOWN_DEFAULT_SECRETS = frozenset({DEV_INTERNAL_KEY, DEV_SENDER_KEY})
_DEFAULT_MARKERS = ("change-me", "changeme", "insecure")

HINT_LOCAL = "For local work set ENVIRONMENT=development (make dev and the tests do)."


def is_builtin_default(value: str) -> bool:
    lowered = value.lower()
    return value in KNOWN_DEFAULT_SECRETS or any(marker in lowered for marker in _DEFAULT_MARKERS)


def _secret_problem(value: str, *, min_length: int) -> str | None:
    if not value:
        return "is not set"
    if is_builtin_default(value):
        return "is left at a built-in default published in this repository"
    if len(value) < min_length:
        return f"is too short ({len(value)} characters; at least {min_length})"
    return None


def _secret_errors() -> list[checks.Error]:
    errors = []
    problem = _secret_problem(settings.SECRET_KEY, min_length=MIN_DJANGO_SECRET_KEY_LENGTH)
    if problem:
        errors.append(
            checks.Error(
                f"DJANGO_SECRET_KEY {problem}.", hint="Set a random DJANGO_SECRET_KEY.", id="notification.E001"
            )
        )
    common = getattr(settings, "NOTIFICATION_COMMON", {})
    problem = _secret_problem(common.get("SERVICE_API_KEY", ""), min_length=MIN_SECRET_LENGTH)
    if problem:
        errors.append(
            checks.Error(
                f"SERVICE_API_KEY {problem}.",
                hint="Set the random key (internal scope) this service sends to the others.",
                id="notification.E002",
            )
        )
    for number, (key, scopes) in enumerate(common.get("BOOTSTRAP_API_KEYS", {}).items(), start=1):
        problem = _secret_problem(key, min_length=MIN_SECRET_LENGTH)
        if problem:
            # A default key is public and may be named; any other key is a secret: say where it is.
            shown = key if is_builtin_default(key) else f"entry {number}"
            errors.append(
                checks.Error(
                    f"BOOTSTRAP_API_KEYS {shown} (scopes {','.join(scopes) or 'none'}) {problem}.",
                    hint="Set BOOTSTRAP_API_KEYS to random keys, or to an empty value to bootstrap none.",
                    id="notification.E003",
                )
            )
    # A service names its own secrets (the admin service: its token signing keys) as
    # {setting name: env variable}; a setting may be a string or a {kid: secret} mapping.
    for setting_name, env_name in getattr(settings, "PRODUCTION_SECRET_SETTINGS", {}).items():
        value = getattr(settings, setting_name, "")
        values = value if isinstance(value, dict) else {"": value}
        if not values:
            values = {"": ""}
        for kid, secret in values.items():
            problem = _secret_problem(secret, min_length=MIN_SECRET_LENGTH)
            if problem:
                where = f"{env_name} key {kid!r}" if kid else env_name
                errors.append(checks.Error(f"{where} {problem}.", id="notification.E004"))
    # Only the services that sign or verify unsubscribe links set it (unsubscribe.py).
    if "UNSUBSCRIBE_SECRET" in common:
        problem = _secret_problem(common["UNSUBSCRIBE_SECRET"], min_length=MIN_SECRET_LENGTH)
        if problem:
            errors.append(
                checks.Error(
                    f"UNSUBSCRIBE_SECRET {problem}.",
                    hint="Set one random UNSUBSCRIBE_SECRET, the same in the email and user services.",
                    id="notification.E010",
                )
            )
    return errors


def _jwt_errors() -> list[checks.Error]:
    errors = []
    common = getattr(settings, "NOTIFICATION_COMMON", {})
    public_key = common.get("JWT_PUBLIC_KEY", "")
    dev_dir = Path(getattr(settings, "JWT_DEV_KEYS_DIR", "") or "/nonexistent")
    if not public_key:
        errors.append(
            checks.Error(
                "The JWT public key is missing.",
                hint="Set JWT_PUBLIC_KEY (PEM) or JWT_PUBLIC_KEY_PATH to the user service's public key.",
                id="notification.E007",
            )
        )
    elif _same_key(public_key, dev_dir / "jwt_public.pem"):
        errors.append(
            checks.Error(
                f"The JWT public key is the development key pair generated under {dev_dir}.",
                hint="Generate a production key pair and set JWT_PUBLIC_KEY_PATH / JWT_PRIVATE_KEY_PATH.",
                id="notification.E009",
            )
        )
    if getattr(settings, "JWT_SIGNS_USER_TOKENS", False):
        private_key = settings.SIMPLE_JWT.get("SIGNING_KEY", "")
        if not private_key:
            errors.append(
                checks.Error(
                    "The JWT private key is missing (this service signs user tokens).",
                    hint="Set JWT_PRIVATE_KEY (PEM) or JWT_PRIVATE_KEY_PATH.",
                    id="notification.E008",
                )
            )
        elif _same_key(private_key, dev_dir / "jwt_private.pem"):
            errors.append(
                checks.Error(
                    f"The JWT private key is the development key pair generated under {dev_dir}.",
                    hint="Generate a production key pair and set JWT_PRIVATE_KEY_PATH.",
                    id="notification.E009",
                )
            )
    return errors


def _same_key(key: str, dev_path: Path) -> bool:
    try:
        return dev_path.is_file() and dev_path.read_text().strip() == key.strip()
    except OSError:
        return False


@checks.register(checks.Tags.security, PRODUCTION_TAG)
def production_settings_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if getattr(settings, "ENVIRONMENT", PRODUCTION) != PRODUCTION:
        return []
    errors = _secret_errors()
    hosts = list(settings.ALLOWED_HOSTS)
    if not hosts or "*" in hosts:
        errors.append(
            checks.Error(
                f"ALLOWED_HOSTS is {'empty' if not hosts else 'a wildcard (*)'}.",
                hint="Set ALLOWED_HOSTS to the host names this service answers to.",
                id="notification.E005",
            )
        )
    if settings.DEBUG:
        errors.append(
            checks.Error("DEBUG is on (DJANGO_DEBUG).", hint="Set DJANGO_DEBUG=false.", id="notification.E006")
        )
    errors.extend(_jwt_errors())
    if errors:
        # Say once how to get out of this on a developer's machine, without weakening production.
        hint = f"ENVIRONMENT is production (the default when unset). {HINT_LOCAL}"
        errors[0].hint = f"{errors[0].hint} {hint}" if errors[0].hint else hint
    return errors


def refuse_to_start_on_errors() -> None:
    """Raise SystemCheckError when a production check fails: called at WSGI start (gunicorn)."""
    from django.core.management.base import SystemCheckError

    errors = [message for message in checks.run_checks(tags=[PRODUCTION_TAG]) if message.is_serious()]
    if errors:
        raise SystemCheckError(
            "The service refuses to start:\n" + "\n".join(str(error) for error in errors)  # each with its HINT line
        )
