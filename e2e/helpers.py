"""What a client of the platform does, over HTTP only: register, log in, send, poll.

Every wait is a poll with a deadline (``wait_for``), never a fixed sleep.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "e2e-Correct-Horse-42"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def envelope(response: httpx.Response, status: int | tuple[int, ...]) -> dict:
    """Assert the status and the envelope's shape; return the envelope."""
    expected = (status,) if isinstance(status, int) else status
    assert response.status_code in expected, (
        f"{response.request.method} {response.request.url} -> {response.status_code}, expected {expected}: "
        f"{response.text[:800]}"
    )
    body = response.json()
    assert set(body) >= {"success", "data", "error", "message"}, body
    assert body["success"] is (response.status_code < 400), body
    return body


def data(response: httpx.Response, status: int | tuple[int, ...] = 200) -> Any:
    return envelope(response, status)["data"]


def error(response: httpx.Response, status: int) -> str:
    """Assert a refusal with that status; return its machine-readable code."""
    body = envelope(response, status)
    assert body["error"], body
    return body["error"]


def wait_for(
    probe: Callable[[], Any], *, timeout: float = 20, interval: float = 0.2, describe: str = "condition"
) -> Any:
    """Call ``probe`` until it returns something truthy; return that. On timeout fail with
    the last value (or exception) seen, so the report says what was there instead."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
            if last:
                return last
        except (httpx.HTTPError, AssertionError, KeyError, ValueError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {describe}; last: {last!r}"[:2000])
        time.sleep(interval)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issue_api_key(admin: httpx.Client, admin_auth: dict[str, str], name: str, scopes: list[str]) -> dict:
    """An API key issued by an admin through the admin service: the created record (its
    ``key`` is shown this once)."""
    return data(
        admin.post("/api/v1/admin/api-keys/", json={"name": unique(name), "scopes": scopes}, headers=admin_auth),
        201,
    )


def api_key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def access_token_of(login_data: dict) -> str:
    """The access token of a login answer (``access`` as simplejwt names it)."""
    for name in ("access", "access_token"):
        if name in login_data:
            return login_data[name]
    tokens = login_data.get("tokens") or {}
    return tokens.get("access") or tokens["access_token"]


# --------------------------------------------------------------------------- users
@dataclass
class ApiUser:
    id: str
    email: str
    name: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.token)


def register_user(
    users: httpx.Client,
    *,
    name: str = "Ada Lovelace",
    email_enabled: bool = True,
    push_enabled: bool = True,
    push_token: str | None = None,
) -> ApiUser:
    """Register a fresh user (unique email) and log in."""
    email = f"{unique('ada')}@example.com"
    body: dict[str, Any] = {
        "name": name,
        "email": email,
        "password": PASSWORD,
        "preferences": {"email": email_enabled, "push": push_enabled},
    }
    if push_token:
        body["push_token"] = push_token
    user = data(users.post("/api/v1/users/", json=body), 201)
    assert "password" not in user
    login = data(users.post("/api/v1/users/login/", json={"email": email, "password": PASSWORD}), 200)
    return ApiUser(id=str(user["id"]), email=email, name=name, token=access_token_of(login))


# --------------------------------------------------------------------------- notifications
def send_notification(
    gateway: httpx.Client,
    *,
    headers: dict[str, str],
    user_id: str,
    template_code: str,
    notification_type: str = "email",
    variables: dict | None = None,
    language: str | None = None,
    request_id: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {
        "notification_type": notification_type,
        "user_id": user_id,
        "template_code": template_code,
        "variables": variables if variables is not None else {"name": "Ada"},
        "request_id": request_id or unique("req"),
        "priority": 5,
        "metadata": {"source": "e2e"},
    }
    if language:
        body["language"] = language
    return gateway.post("/api/v1/notifications/", json=body, headers=headers)


def notification_status(gateway: httpx.Client, notification_id: str, headers: dict[str, str]) -> dict:
    return data(gateway.get(f"/api/v1/notifications/{notification_id}/", headers=headers), 200)


def wait_for_status(
    gateway: httpx.Client, notification_id: str, headers: dict[str, str], status: str, *, timeout: float = 30
) -> dict:
    def probe():
        current = notification_status(gateway, notification_id, headers)
        return current if current.get("status") == status else None

    return wait_for(probe, timeout=timeout, describe=f"notification {notification_id} to be {status}")


# --------------------------------------------------------------------------- loopback servers
def smtp_messages(
    smtp_api: str, *, notification_id: str | None = None, to: str | None = None, timeout: float = 5
) -> list[dict]:
    params = {k: v for k, v in {"notification_id": notification_id, "to": to}.items() if v}
    response = httpx.get(f"{smtp_api}/messages", params=params, timeout=timeout)
    response.raise_for_status()
    return response.json()


def smtp_control(smtp_api: str, **command: Any) -> None:
    httpx.post(f"{smtp_api}/control", json=command, timeout=5).raise_for_status()


def fcm_messages(fcm_url: str, *, token: str | None = None, timeout: float = 5) -> list[dict]:
    params = {"token": token} if token else {}
    response = httpx.get(f"{fcm_url}/_loopback/messages", params=params, timeout=timeout)
    response.raise_for_status()
    return response.json()


# --------------------------------------------------------------------------- templates
def create_template(
    templates: httpx.Client,
    headers: dict[str, str],
    *,
    code: str,
    channel: str,
    versions: dict[str, dict],
    default_language: str = "en",
    user_triggerable: bool = False,
    category: str | None = None,
) -> dict:
    """Create a template with version 1 in each language of ``versions`` ({language: fields}).
    ``user_triggerable``: whether user tokens may send it (to themselves) through the gateway;
    ``category``: its category (the template service's default when None)."""
    body = {
        "code": code,
        "channel": channel,
        "default_language": default_language,
        "description": "created by the e2e suite",
        "user_triggerable": user_triggerable,
        "versions": [{"language": language, **fields} for language, fields in versions.items()],
    }
    if category is not None:
        body["category"] = category
    return data(templates.post("/api/v1/templates/", json=body, headers=headers), 201)
