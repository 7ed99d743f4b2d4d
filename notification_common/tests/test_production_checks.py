"""Production refuses the repository's defaults: every service's ``manage.py check`` and WSGI start.

Each service runs as a subprocess with a clean environment (nothing of this shell, no .env),
exactly as a deployment that forgot its variables would.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from notification_common.keys import ensure_dev_keypair

REPO = Path(__file__).resolve().parents[2]
SERVICES = [
    "api_gateway_service",
    "user_service",
    "template_service",
    "email_service",
    "push_service",
    "admin_service",
]


def _run(service: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ENVIRONMENT": "production", **env}
    return subprocess.run(
        [sys.executable, *args], cwd=REPO / service, env=clean, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def production_keys(tmp_path_factory) -> dict[str, str]:
    keys = tmp_path_factory.mktemp("keys")
    ensure_dev_keypair(keys / "private.pem", keys / "public.pem")
    return {"JWT_PUBLIC_KEY_PATH": str(keys / "public.pem"), "JWT_PRIVATE_KEY_PATH": str(keys / "private.pem")}


def _strong_env(keys: dict[str, str]) -> dict[str, str]:
    return {
        **keys,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "SERVICE_API_KEY": secrets.token_urlsafe(32),
        "BOOTSTRAP_API_KEYS": f"{secrets.token_urlsafe(32)}=internal",
        "ADMIN_JWT_SECRETS": f"2026-12={secrets.token_urlsafe(32)};2027-01={secrets.token_urlsafe(32)}",
        "UNSUBSCRIBE_SECRET": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "notifications.example.com",
        "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO=https",
        # The two opt-ins (docs/operations.md): a service facing clients without a redirecting proxy.
        "DJANGO_SECURE_SSL_REDIRECT": "true",
        "DJANGO_SECURE_HSTS_PRELOAD": "true",
    }


@pytest.mark.parametrize("service", SERVICES)
def test_production_check_with_only_the_defaults_fails_naming_each_problem(service):
    result = _run(service, ["manage.py", "check"], {})

    output = result.stdout + result.stderr
    assert result.returncode != 0
    for expected in (
        "notification.E001) DJANGO_SECRET_KEY is left at a built-in default",
        "notification.E002) SERVICE_API_KEY is left at a built-in default",
        "notification.E003) BOOTSTRAP_API_KEYS dev-internal-key-change-me",
        "notification.E003) BOOTSTRAP_API_KEYS dev-sender-key-change-me",
        "notification.E005) ALLOWED_HOSTS is empty",
    ):
        assert expected in output, output
    # No dev key pair is generated in production: the services have no key at all.
    assert "notification.E007) The JWT public key is missing" in output or "notification.E009)" in output
    if service == "user_service":
        assert "notification.E008)" in output or "notification.E009)" in output
    if service == "admin_service":
        assert "notification.E004) ADMIN_JWT_SECRETS is not set" in output
    # The services that sign or verify one-click unsubscribe links, and only they.
    unsubscribe = "notification.E010) UNSUBSCRIBE_SECRET is left at a built-in default"
    assert (unsubscribe in output) == (service in ("user_service", "email_service")), output


def test_debug_wildcard_hosts_short_secrets_and_the_dev_key_pair_are_each_named(tmp_path):
    dev_keys = REPO / "var" / "keys"
    ensure_dev_keypair(dev_keys / "jwt_private.pem", dev_keys / "jwt_public.pem")
    env = {
        "DJANGO_DEBUG": "true",
        "ALLOWED_HOSTS": "*",
        "DJANGO_SECRET_KEY": "x" * 49,
        "SERVICE_API_KEY": "short-key",
        "BOOTSTRAP_API_KEYS": f"tiny=internal;{secrets.token_urlsafe(32)}=notifications:send",
        "ADMIN_JWT_SECRETS": f"current={secrets.token_urlsafe(32)};next=too-short",
        "JWT_PUBLIC_KEY_PATH": str(dev_keys / "jwt_public.pem"),
    }

    output = _run("admin_service", ["manage.py", "check"], env).stderr

    assert "notification.E001) DJANGO_SECRET_KEY is too short (49 characters; at least 50)" in output
    assert "notification.E002) SERVICE_API_KEY is too short" in output
    # A short key is still a secret: named by its position, never printed.
    assert "notification.E003) BOOTSTRAP_API_KEYS entry 1 (scopes internal) is too short" in output
    assert "tiny" not in output
    assert "BOOTSTRAP_API_KEYS entry 2" not in output
    assert "notification.E004) ADMIN_JWT_SECRETS key 'next' is too short" in output
    assert "ADMIN_JWT_SECRETS key 'current'" not in output
    assert "notification.E005) ALLOWED_HOSTS is a wildcard (*)" in output
    assert "notification.E006) DEBUG is on" in output
    assert "notification.E009) The JWT public key is the development key pair" in output


def test_the_user_service_names_a_missing_private_key(production_keys):
    env = {**_strong_env(production_keys), "JWT_PRIVATE_KEY_PATH": "/nonexistent/private.pem"}

    result = _run("user_service", ["manage.py", "check"], env)

    assert result.returncode != 0
    assert "notification.E008) The JWT private key is missing" in result.stderr
    assert "notification.E" not in result.stderr.replace("notification.E008", "")


@pytest.mark.parametrize("service", SERVICES)
def test_production_with_strong_values_passes_the_deploy_check_without_warnings(service, production_keys):
    result = _run(service, ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _strong_env(production_keys))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_the_opt_ins_the_deploy_check_warns_only_about_them(production_keys):
    env = _strong_env(production_keys)
    del env["DJANGO_SECURE_SSL_REDIRECT"], env["DJANGO_SECURE_HSTS_PRELOAD"]

    result = _run("template_service", ["manage.py", "check", "--deploy"], env)

    assert result.returncode == 0, result.stderr
    warnings = sorted(line.split(")")[0].split("(")[-1] for line in result.stderr.splitlines() if "(security." in line)
    assert warnings == ["security.W008", "security.W021"]


def test_the_wsgi_application_refuses_to_start_on_the_defaults():
    # What gunicorn does when it boots a worker: import config.wsgi.
    result = _run("api_gateway_service", ["-c", "import config.wsgi"], {})

    assert result.returncode != 0
    assert "SystemCheckError" in result.stderr
    assert "The service refuses to start" in result.stderr
    assert "notification.E001) DJANGO_SECRET_KEY" in result.stderr


def test_the_wsgi_application_starts_with_strong_values(production_keys):
    result = _run("api_gateway_service", ["-c", "import config.wsgi; print('started')"], _strong_env(production_keys))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


def test_an_unknown_environment_is_refused_at_settings_load():
    result = _run("template_service", ["manage.py", "check"], {"ENVIRONMENT": "staging"})

    assert result.returncode != 0
    assert "ENVIRONMENT must be one of development, test, production" in result.stderr


def test_development_keeps_its_working_defaults():
    result = _run("template_service", ["manage.py", "check", "--fail-level", "WARNING"], {"ENVIRONMENT": "development"})

    assert result.returncode == 0, result.stderr
