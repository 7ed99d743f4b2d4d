"""The gateway's schema tells the truth (notification_devtools/testing/schema_contract.py)."""

import uuid

import pytest
from django.utils import timezone

from notification_devtools.testing.schema_contract import *  # noqa: F403
from notifications.tests.conftest import NOTIFICATIONS_URL, notification_body
from notifications.tests.factories import OutboxMessageFactory


@pytest.fixture
def schema_fuzz_headers(sender_key, internal_key) -> list[dict]:
    return [{"X-API-Key": sender_key}, {"X-API-Key": internal_key}]


# -- real answers with real data, strictly validated (SchemaValidator.assert_conforms) --
@pytest.mark.django_db
def test_send_list_read_and_stats_conform(
    schema_validator, api_client, send, user_service, sender_key, fresh_rate_limits
):
    user_id = user_service.add_user()
    conforms = schema_validator.assert_conforms

    accepted = conforms(send(notification_body(user_id)))  # no request_id: null in the answers
    conforms(send(notification_body(user_id, request_id="client-key-1")))
    conforms(send(notification_body(user_id, request_id="client-key-1")))  # the duplicate: 200
    conforms(send(notification_body(user_id, request_id="client-key-1", priority=9)))  # 409
    conforms(send(notification_body(user_id, template_code="bad code!")))  # 400
    conforms(send(notification_body(uuid.uuid4())))  # unknown user: 404
    conforms(send(notification_body(user_id), key="not-a-key"))  # 401

    api_client.credentials(HTTP_X_API_KEY=sender_key)
    listed = conforms(api_client.get(NOTIFICATIONS_URL))
    assert {item["request_id"] for item in listed["data"]} == {None, "client-key-1"}
    conforms(api_client.get(NOTIFICATIONS_URL, {"status": "pending", "notification_type": "email", "limit": 1}))
    conforms(api_client.get(NOTIFICATIONS_URL, {"page": "0"}))  # 400
    notification_id = accepted["data"]["notification_id"]
    user_service.set_status(notification_id, status="delivered", attempts=1, error=None, history=[])
    conforms(api_client.get(f"{NOTIFICATIONS_URL}{notification_id}/"))
    conforms(api_client.get(f"{NOTIFICATIONS_URL}{uuid.uuid4()}/"))  # 404
    conforms(api_client.get(f"{NOTIFICATIONS_URL}stats/"))


@pytest.mark.django_db
def test_outbox_operations_conform(schema_validator, api_client, internal_key):
    parked = OutboxMessageFactory(parked_at=timezone.now(), failed_attempts=3, last_error="unroutable")
    api_client.credentials(HTTP_X_API_KEY=internal_key)
    conforms = schema_validator.assert_conforms

    listed = conforms(api_client.get("/api/v1/outbox/parked/"))
    assert len(listed["data"]) == 1
    conforms(api_client.post(f"/api/v1/outbox/{parked.notification_id}/replay/"))
    conforms(api_client.post(f"/api/v1/outbox/{parked.notification_id}/replay/"))  # 409: replayed once
    conforms(api_client.post(f"/api/v1/outbox/{uuid.uuid4()}/replay/"))  # 404
