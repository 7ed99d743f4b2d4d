"""The push service's schema tells the truth (notification_devtools/testing/schema_contract.py)."""

import uuid

import pytest

from notification_devtools.testing.schema_contract import *  # noqa: F403
from pushes.models import PushDeviceResult, PushNotification
from pushes.tests.factories import PushDeviceResultFactory, PushNotificationFactory
from pushes.tests.test_health import consumer_alive  # noqa: F401 - fixture


@pytest.fixture
def healthy_service(consumer_alive, settings):  # noqa: F811
    # One heartbeat must outlast the fuzzing run (no consumer beats in these tests).
    settings.PUSH_SERVICE = {**settings.PUSH_SERVICE, "HEARTBEAT_MAX_AGE_SECONDS": 3600}


# -- real answers with real data, strictly validated (SchemaValidator.assert_conforms) --
@pytest.mark.django_db
def test_list_detail_and_stats_conform(schema_validator, api_client, internal_key):
    delivered = PushNotificationFactory()
    PushDeviceResultFactory(notification=delivered)
    PushDeviceResultFactory(
        notification=delivered, status=PushDeviceResult.Status.FAILED, message_id="", error_code="UNREGISTERED"
    )
    pending = PushNotificationFactory(
        status=PushNotification.Status.PENDING, title="", body="", rendered_at=None, version=None, attempts=0
    )
    api_client.credentials(HTTP_X_API_KEY=internal_key)
    conforms = schema_validator.assert_conforms

    listed = conforms(api_client.get("/api/v1/pushes/"))
    assert len(listed["data"]) == 2
    conforms(api_client.get("/api/v1/pushes/", {"status": "delivered", "user_id": str(delivered.user_id)}))
    conforms(api_client.get("/api/v1/pushes/", {"status": "lost"}))  # 400
    for push in (delivered, pending):
        conforms(api_client.get(f"/api/v1/pushes/{push.notification_id}/"))
    conforms(api_client.get(f"/api/v1/pushes/{uuid.uuid4()}/"))  # 404
    conforms(api_client.get("/api/v1/pushes/stats/"))


@pytest.mark.django_db
def test_refusals_conform(schema_validator, api_client, sender_key):
    conforms = schema_validator.assert_conforms

    conforms(api_client.get("/api/v1/pushes/"))  # 401
    api_client.credentials(HTTP_X_API_KEY=sender_key)
    conforms(api_client.get("/api/v1/pushes/"))  # 403
