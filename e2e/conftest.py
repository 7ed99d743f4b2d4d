"""Session fixture: the whole platform, started once (launcher.py), driven over HTTP only.

Each scenario registers fresh users and uses fresh request ids, so the suite runs twice on
the same databases. A failing test gets the tail of every process's log in its report.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import launcher  # noqa: E402
from helpers import access_token_of, api_key, data, unique  # noqa: E402

ADMIN_PASSWORD = "e2e-Admin-Password-42"


# --- the platform ---
@pytest.fixture(scope="session")
def platform():
    try:
        with launcher.launch() as running:
            yield running
            running.keep_logs = _FAILED[0] > 0
    except launcher.LaunchError as exc:
        pytest.fail(f"the platform did not start: {exc}", pytrace=False)


_FAILED = [0]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        _FAILED[0] += 1
        running = item.funcargs.get("platform") if hasattr(item, "funcargs") else None
        if running is not None:
            report.sections.append(("platform logs (tail)", running.logs(lines=25)))
    return report


def _client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=15)


@pytest.fixture(scope="session")
def gateway(platform):
    with _client(platform.url("gateway")) as client:
        yield client


@pytest.fixture(scope="session")
def users(platform):
    with _client(platform.url("users")) as client:
        yield client


@pytest.fixture(scope="session")
def templates(platform):
    with _client(platform.url("templates")) as client:
        yield client


@pytest.fixture(scope="session")
def admin(platform):
    with _client(platform.url("admin")) as client:
        yield client


@pytest.fixture(scope="session")
def sender(platform) -> dict[str, str]:
    """Headers of a client holding an API key with ``notifications:send`` (bootstrap key)."""
    return api_key(platform.sender_key)


@pytest.fixture(scope="session")
def internal(platform) -> dict[str, str]:
    return api_key(platform.internal_key)


@pytest.fixture(scope="session")
def admin_auth(platform, admin) -> dict[str, str]:
    """An admin account (``manage.py createadmin``) logged in; headers with its token."""
    username = unique("e2e-admin")
    result = platform.manage(
        "admin_service",
        "createadmin",
        "--username",
        username,
        "--email",
        f"{username}@example.com",
        "--password",
        ADMIN_PASSWORD,
        "--noinput",
    )
    assert result.returncode == 0, f"createadmin failed: {result.stdout}\n{result.stderr}"
    login = data(admin.post("/api/v1/admin/login/", json={"username": username, "password": ADMIN_PASSWORD}))
    return {"Authorization": f"Bearer {access_token_of(login)}"}


@pytest.fixture(autouse=True)
def _smtp_healthy(platform):
    """Every scenario starts and ends with the loopback SMTP server up and without scripted failures."""
    httpx.post(f"{platform.smtp_api}/control", json={"reset": True}, timeout=5).raise_for_status()
    yield
    httpx.post(f"{platform.smtp_api}/control", json={"reset": True}, timeout=5).raise_for_status()
