"""``external_id`` in place of ``user_id``: resolved through the user service within the
sender's key, cached like users; the stored notification keeps the user id."""

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from notification_common.api_keys import verify_api_key
from notification_devtools.testing import assert_envelope
from notifications.models import NotificationRequest
from notifications.tests.conftest import notification_body

pytestmark = pytest.mark.django_db

BULK_URL = "/api/v1/notifications/bulk/"


def external_path(external_id: str) -> str:
    return f"/api/v1/users/by-external-id/{external_id}/"


@pytest.fixture(autouse=True)
def _no_cached_resolutions():
    """The Redis db is shared by the suite's tests: start without another test's mappings."""
    from notification_common.redis_client import get_redis

    client = get_redis()
    for key in client.scan_iter(match="gateway:external-user:*"):
        client.delete(key)
    yield
    for key in client.scan_iter(match="gateway:external-user:*"):
        client.delete(key)


@pytest.fixture
def external_user(user_service):
    """A user the sender knows as ``crm-42``."""
    user_id = user_service.add_user()
    user_service.server.reply("GET", external_path("crm-42"), 200, {"id": user_id, "external_id": "crm-42"})
    return user_id


def test_external_id_is_resolved_and_the_notification_keeps_the_user_id(
    send, external_user, user_service, sender_key, rabbit_channel, fresh_rate_limits
):
    response = send(notification_body(..., user_id=..., external_id="crm-42"))

    data = assert_envelope(response, status=202, success=True)["data"]
    assert data["user_id"] == external_user
    assert str(NotificationRequest.objects.get(id=data["notification_id"]).user_id) == external_user
    (lookup,) = user_service.server.requests_to("GET", external_path("crm-42"))
    assert parse_qs(urlsplit(lookup["full_path"]).query)["key_id"] == [verify_api_key(sender_key).key_id]


def test_the_resolution_is_cached_like_users(send, external_user, user_service, rabbit_channel, fresh_rate_limits):
    for n in range(3):
        assert_envelope(send(notification_body(..., user_id=..., external_id="crm-42", request_id=f"r{n}")), status=202)

    assert len(user_service.server.requests_to("GET", external_path("crm-42"))) == 1


def test_unknown_external_id_is_404_naming_it(send, user_service, fresh_rate_limits):
    response = send(notification_body(..., user_id=..., external_id="nobody"))

    assert "external_id" in assert_envelope(response, status=404, error="user_not_found")["data"]
    assert not NotificationRequest.objects.exists()


def test_external_id_the_user_service_refuses_is_a_400_naming_it(send, user_service, fresh_rate_limits):
    # The gateway sends the id percent-encoded in the path.
    user_service.server.reply("GET", external_path("bad%3Bid"), 400, {"external_id": ["no"]}, error="validation_error")

    response = send(notification_body(..., user_id=..., external_id="bad;id"))

    assert "external_id" in assert_envelope(response, status=400, error="validation_error")["data"]


@pytest.mark.parametrize(
    "body",
    [
        notification_body(uuid.uuid4(), external_id="crm-42"),
        notification_body(..., user_id=...),
        notification_body(..., user_id=..., external_id=""),
        notification_body(..., user_id=..., external_id="x" * 256),
        notification_body(..., user_id=..., external_id=42),
    ],
    ids=["both", "neither", "blank", "too-long", "not-a-string"],
)
def test_exactly_one_valid_recipient_field_or_a_400(send, user_service, body, fresh_rate_limits):
    response = send(body)

    errors = assert_envelope(response, status=400, error="validation_error")["data"]
    assert "external_id" in errors or "user_id" in errors
    assert not NotificationRequest.objects.exists()


def test_a_user_token_cannot_name_users_by_external_id(send, user_token, user_service, fresh_rate_limits):
    response = send(notification_body(..., user_id=..., external_id="crm-42"), token=user_token(uuid.uuid4()))

    assert "external_id" in assert_envelope(response, status=403, error="permission_denied")["data"]


def test_bulk_items_may_name_users_by_external_id(
    api_client, sender_key, external_user, user_service, rabbit_channel, fresh_rate_limits
):
    items = [
        notification_body(..., user_id=..., external_id="crm-42", request_id="b1"),
        notification_body(..., user_id=..., external_id="nobody", request_id="b2"),
    ]

    response = api_client.post(BULK_URL, {"notifications": items}, format="json", HTTP_X_API_KEY=sender_key)

    data = assert_envelope(response, status=202)["data"]
    first, second = data["results"]
    assert first["outcome"] == "accepted" and first["notification"]["user_id"] == external_user
    assert second["outcome"] == "rejected" and second["error"] == "user_not_found"
