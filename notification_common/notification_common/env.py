"""Small typed readers for environment variables, used by every service's settings."""

import os
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {os.environ.get(name)!r}")
    return value


_RATE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def env_rate(name: str, default: str) -> tuple[int, int]:
    """A rate like ``20/h`` (units s, m, h, d) as ``(count, window_seconds)``; ``0`` is
    ``(0, 0)``: no limit."""
    raw = (os.environ.get(name) or default).strip().lower()
    if raw == "0":
        return 0, 0
    count, _, unit = raw.partition("/")
    if not count.isdigit() or int(count) < 1 or unit not in _RATE_UNITS:
        raise ImproperlyConfigured(f"{name} must look like 20/h (units s, m, h, d) or be 0, got {raw!r}")
    return int(count), _RATE_UNITS[unit]


def env_list(name: str, default: list[str] | None = None, *, sep: str = ",") -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(sep) if item.strip()]


def env_url(name: str, default: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    value = os.environ.get(name, default).strip()
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.netloc:
        raise ImproperlyConfigured(f"{name} must be a URL with scheme {'/'.join(schemes)}, got {value!r}")
    return value.rstrip("/")


def database_from_url(url: str) -> dict:
    """Turn postgres://user:password@host:port/name into a Django DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(f"Only PostgreSQL database URLs are supported, got {parsed.scheme!r}")
    name = unquote(parsed.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("The database URL must name a database")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "127.0.0.1",
        "PORT": str(parsed.port or 5432),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        # TEST_DB_SUFFIX lets two test runs of one service share a machine (parallel
        # checkouts, helpers) without creating and dropping each other's test database.
        "TEST": {"NAME": f"test_{name}{os.environ.get('TEST_DB_SUFFIX', '')}"},
    }


def parse_api_keys(raw: str) -> dict[str, list[str]]:
    """Parse "key1=scope,scope;key2=scope" into {key: [scopes]}."""
    keys: dict[str, list[str]] = {}
    for entry in raw.split(";"):
        entry = entry.strip()
        if not entry:
            continue
        key, _, scopes = entry.partition("=")
        if not key.strip():
            raise ImproperlyConfigured("BOOTSTRAP_API_KEYS has an entry without a key")
        keys[key.strip()] = [s.strip() for s in scopes.split(",") if s.strip()]
    return keys
