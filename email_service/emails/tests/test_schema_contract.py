"""The email service's schema tells the truth (notification_devtools/testing/schema_contract.py)."""

import uuid

import pytest

from emails.constants import AttemptOutcome, DeliveryStatus
from emails.tests.factories import DeliveredEmailFactory, EmailAttemptFactory, EmailNotificationFactory
from emails.tests.test_health import consumer_alive  # noqa: F401 - fixture
from notification_devtools.testing.schema_contract import *  # noqa: F403


@pytest.fixture
def healthy_service(smtp_server, consumer_alive, settings):  # noqa: F811
    # One heartbeat must outlast the fuzzing run (no consumer beats in these tests).
    settings.EMAIL_HEARTBEAT_MAX_AGE_SECONDS = 3600


# -- real answers with real data, strictly validated (SchemaValidator.assert_conforms) --
@pytest.mark.django_db
def test_list_detail_and_stats_conform(schema_validator, api_client, internal_key):
    delivered = DeliveredEmailFactory()
    EmailAttemptFactory(delivery=delivered, outcome=AttemptOutcome.SENT, smtp_code=250)
    pending = EmailNotificationFactory()
    EmailAttemptFactory(
        delivery=pending, outcome=AttemptOutcome.TRANSIENT_FAILURE, smtp_code=None, error="connection refused"
    )
    EmailNotificationFactory(status=DeliveryStatus.FAILED)
    api_client.credentials(HTTP_X_API_KEY=internal_key)
    conforms = schema_validator.assert_conforms

    listed = conforms(api_client.get("/api/v1/emails/"))
    assert len(listed["data"]) == 3
    conforms(api_client.get("/api/v1/emails/", {"status": "delivered", "user_id": str(delivered.user_id)}))
    conforms(api_client.get("/api/v1/emails/", {"status": "lost"}))  # 400
    for delivery in (delivered, pending):
        conforms(api_client.get(f"/api/v1/emails/{delivery.notification_id}/"))
    conforms(api_client.get(f"/api/v1/emails/{uuid.uuid4()}/"))  # 404
    conforms(api_client.get("/api/v1/emails/not-an-id/"))  # 400
    conforms(api_client.get("/api/v1/emails/stats/"))


@pytest.mark.django_db
def test_refusals_conform(schema_validator, api_client, sender_key):
    conforms = schema_validator.assert_conforms

    conforms(api_client.get("/api/v1/emails/"))  # 401
    api_client.credentials(HTTP_X_API_KEY=sender_key)
    conforms(api_client.get("/api/v1/emails/"))  # 403
