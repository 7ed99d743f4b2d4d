"""Fixtures of the gateway's tests: a stand-in user service and request helpers."""

import uuid

import pytest

from notification_common.service_clients import reset_clients
from notifications.constants import RATE_LIMIT_KEY_PREFIX

NOTIFICATIONS_URL = "/api/v1/notifications/"


@pytest.fixture
def fresh_rate_limits():
    """The gateway's send counters start at zero (without flushing the Redis db that the
    other services' test suites share)."""
    from notification_common.redis_client import get_redis

    def clear():
        client = get_redis()
        for key in client.scan_iter(match=f"ratelimit:{RATE_LIMIT_KEY_PREFIX}:*"):
            client.delete(key)

    clear()
    yield
    clear()


class UserServiceStub:
    """The user service's contract (docs/architecture.md) served by a loopback stub."""

    def __init__(self, server):
        self.server = server

    def add_user(
        self,
        *,
        user_id=None,
        name="Ada Lovelace",
        email="ada@example.com",
        is_active=True,
        email_enabled=True,
        push_enabled=True,
        devices=None,
        categories=None,
    ) -> str:
        user_id = str(user_id or uuid.uuid4())
        devices = [{"token": "tok-1", "active": True}] if devices is None else devices
        user = {
            "id": user_id,
            "name": name,
            "email": email,
            "is_active": is_active,
            "preferences": {"email": email_enabled, "push": push_enabled, "categories": categories or {}},
            "devices": [
                {
                    "id": str(uuid.uuid4()),
                    "platform": "android",
                    "name": "phone",
                    "last_seen": None,
                    **device,
                }
                for device in devices
            ],
            "created_at": "2026-11-24T01:00:00+00:00",
        }
        self.server.reply("GET", self.user_path(user_id), 200, user)
        return user_id

    def set_status(self, notification_id, **log) -> None:
        self.server.reply(
            "GET", self.status_path(notification_id), 200, {"notification_id": str(notification_id), **log}
        )

    @staticmethod
    def user_path(user_id) -> str:
        return f"/api/v1/users/{user_id}/"

    @staticmethod
    def status_path(notification_id) -> str:
        return f"/api/v1/notifications/{notification_id}/status/"

    def user_lookups(self, user_id) -> list[dict]:
        return self.server.requests_to("GET", self.user_path(user_id))

    def add_template(
        self, code: str, *, user_triggerable: bool, category: str = "transactional", category_required: bool = True
    ) -> None:
        """The template service's answer for ``code`` (the same loopback stub serves both)."""
        self.server.reply(
            "GET",
            f"/api/v1/templates/{code}/",
            200,
            {
                "code": code,
                "user_triggerable": user_triggerable,
                "category": category,
                "category_required": category_required,
            },
        )


@pytest.fixture
def user_service(stub_server, settings):
    """The user service, and the template service with ``welcome`` marked user-triggerable
    (the template user-token tests send); other codes answer 404 until added."""
    settings.USER_SERVICE_URL = stub_server.url
    settings.TEMPLATE_SERVICE_URL = stub_server.url
    reset_clients()
    stub = UserServiceStub(stub_server)
    stub.add_template("welcome", user_triggerable=True)
    yield stub
    reset_clients()


@pytest.fixture
def user_service_down(settings):
    """The user service's address answers nothing (connection refused)."""
    settings.USER_SERVICE_URL = "http://127.0.0.1:1"
    reset_clients()
    yield
    reset_clients()


def notification_body(user_id, /, **overrides) -> dict:
    body = {
        "notification_type": "email",
        "user_id": str(user_id),
        "template_code": "welcome",
        "variables": {"name": "Ada", "link": "https://example.com"},
        "priority": 5,
        "metadata": {"campaign": "launch"},
        "language": "en",
    }
    body.update(overrides)
    return {name: value for name, value in body.items() if value is not ...}


@pytest.fixture
def send(api_client, sender_key):
    """``send(body, key=..., token=..., **headers)``: POST a notification (the sender key by default)."""

    def post(body, *, key=None, token=None, **headers):
        if token is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        else:
            headers["HTTP_X_API_KEY"] = key or sender_key
        return api_client.post(NOTIFICATIONS_URL, body, format="json", **headers)

    return post
