"""Test helpers every service's tests use: envelope assertions, tokens, keys, RabbitMQ.

Load the fixtures with ``pytest_plugins = ["notification_devtools.testing.pytest_plugin"]``
in a service's ``conftest.py``.
"""

import time
import uuid
from datetime import timedelta
from pathlib import Path

TEST_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/notifications_test"
TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


def assert_envelope(response, *, status: int, success: bool | None = None, error: str | None = None) -> dict:
    """Assert the response is the platform envelope with this status (and error code)."""
    body = response.json()
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {body}"
    assert set(body) == {"success", "data", "error", "message", "meta"}, body
    expected_success = (status < 400) if success is None else success
    assert body["success"] is expected_success, body
    if error is not None:
        assert body["error"] == error, body
    elif expected_success:
        assert body["error"] is None, body
    assert isinstance(body["message"], str)
    return body


def issue_user_token(
    user_id,
    *,
    private_key_path: str | None = None,
    lifetime: timedelta = timedelta(minutes=5),
    audience: str = "notification-platform",
    issuer: str = "user_service",
    **claims,
) -> str:
    """Sign an access token the way the user service does (for tests of other services)."""
    import jwt
    from django.conf import settings

    path = private_key_path or settings.JWT_PRIVATE_KEY_PATH
    now = int(time.time())
    payload = {
        "token_type": "access",
        "user_id": str(user_id),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + int(lifetime.total_seconds()),
        "aud": audience,
        "iss": issuer,
        **claims,
    }
    return jwt.encode(payload, Path(path).read_text(), algorithm="RS256")
