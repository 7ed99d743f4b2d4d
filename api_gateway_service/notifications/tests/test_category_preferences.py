"""The gateway honours per-category switches like the channel switches, except for required
categories; the template's category travels in the queue message (issue 15)."""

import uuid

import pytest

from notification_common.redis_client import get_redis
from notification_devtools.testing import assert_envelope
from notifications.models import NotificationRequest, OutboxMessage
from notifications.tests.conftest import notification_body

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_cached_template_answers():
    def clear():
        for key in get_redis().scan_iter(match="gateway:template-*"):
            get_redis().delete(key)

    clear()
    yield
    clear()


def test_a_category_turned_off_for_the_channel_is_422_naming_the_category(send, user_service):
    user_id = user_service.add_user(categories={"marketing": {"email": False}})
    user_service.add_template("newsletter", user_triggerable=False, category="marketing", category_required=False)

    response = send(notification_body(user_id, template_code="newsletter"))

    body = assert_envelope(response, status=422, error="preference_disabled")
    assert body["data"] == {"notification_type": "email", "category": "marketing"}
    assert "marketing" in body["message"]
    assert not NotificationRequest.objects.exists()


def test_the_switch_of_another_channel_does_not_stop_email(send, user_service):
    user_id = user_service.add_user(categories={"marketing": {"push": False}})
    user_service.add_template("newsletter", user_triggerable=False, category="marketing", category_required=False)

    assert_envelope(send(notification_body(user_id, template_code="newsletter")), status=202)


def test_a_required_category_ignores_the_users_switch(send, user_service):
    user_id = user_service.add_user(categories={"security": {"email": False}})
    user_service.add_template("new_sign_in", user_triggerable=False, category="security", category_required=True)

    response = send(notification_body(user_id, template_code="new_sign_in"))

    assert_envelope(response, status=202)


def test_the_queue_message_carries_the_templates_category(send, user_service):
    user_id = user_service.add_user()
    user_service.add_template("newsletter", user_triggerable=False, category="marketing", category_required=False)

    data = assert_envelope(send(notification_body(user_id, template_code="newsletter")), status=202)["data"]

    outbox = OutboxMessage.objects.get(notification_id=data["notification_id"])
    assert (outbox.body["category"], outbox.body["category_required"]) == ("marketing", False)


def test_an_unknown_template_has_no_category_in_the_message(send, user_service):
    user_id = user_service.add_user(categories={"marketing": {"email": False}})

    data = assert_envelope(send(notification_body(user_id, template_code="no_such_template")), status=202)["data"]

    assert "category" not in OutboxMessage.objects.get(notification_id=data["notification_id"]).body


def test_one_cached_lookup_serves_the_category_and_the_user_token_check(send, user_service, user_token, stub_server):
    user_id = user_service.add_user()
    user_service.add_template("digest_me", user_triggerable=True, category="product", category_required=False)

    send(notification_body(user_id, template_code="digest_me", request_id=str(uuid.uuid4())), token=user_token(user_id))
    send(notification_body(user_id, template_code="digest_me", request_id=str(uuid.uuid4())))

    assert len(stub_server.requests_to("GET", "/api/v1/templates/digest_me/")) == 1


def test_bulk_items_honour_the_category_switches(api_client, sender_key, user_service):
    opted_out = user_service.add_user(categories={"marketing": {"email": False}})
    opted_in = user_service.add_user(email="bob@example.com")
    user_service.add_template("newsletter", user_triggerable=False, category="marketing", category_required=False)
    items = [
        notification_body(user_id, template_code="newsletter", request_id=str(uuid.uuid4()))
        for user_id in (opted_out, opted_in)
    ]

    response = api_client.post(
        "/api/v1/notifications/bulk/", {"notifications": items}, format="json", HTTP_X_API_KEY=sender_key
    )

    assert response.status_code == 202, response.json()
    results = response.json()["data"]["results"]
    assert results[0]["error"] == "preference_disabled"
    accepted = OutboxMessage.objects.get()
    assert str(accepted.notification.user_id) == opted_in
    assert accepted.body["category"] == "marketing"
