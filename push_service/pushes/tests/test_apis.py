"""HTTP API: deliveries (paginated, filtered), one delivery with its devices, stats. Internal key only."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from notification_common.heartbeat import heartbeat_write
from notification_devtools.testing import assert_envelope
from pushes.constants import HEARTBEAT_KEY
from pushes.models import PushNotification
from pushes.tests.factories import PushDeviceResultFactory, PushNotificationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def internal(api_client, internal_key):
    api_client.credentials(HTTP_X_API_KEY=internal_key)
    return api_client


def test_list_is_paginated_newest_first_with_a_device_summary(internal):
    older = PushNotificationFactory()
    newer = PushNotificationFactory()
    PushDeviceResultFactory.create_batch(2, notification=newer)
    PushDeviceResultFactory(notification=newer, status="failed", error_code="UNREGISTERED")
    PushNotification.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    body = assert_envelope(internal.get("/api/v1/pushes/?limit=1"), status=200)

    assert body["meta"] == {
        "total": 2,
        "limit": 1,
        "page": 1,
        "total_pages": 2,
        "has_next": True,
        "has_previous": False,
    }
    [item] = body["data"]
    assert item["notification_id"] == str(newer.notification_id)
    assert item["devices_summary"] == {"sent": 2, "failed": 1, "pending": 0, "sending": 0}


def test_list_filters_by_status(internal):
    PushNotificationFactory(status="failed")
    PushNotificationFactory(status="delivered")

    body = assert_envelope(internal.get("/api/v1/pushes/?status=failed"), status=200)

    assert [item["status"] for item in body["data"]] == ["failed"]


def test_unknown_status_filter_is_a_validation_error_naming_the_field(internal):
    body = assert_envelope(internal.get("/api/v1/pushes/?status=lost"), status=400, error="validation_error")

    assert "status" in body["data"]


def test_bad_page_is_a_validation_error(internal):
    assert_envelope(internal.get("/api/v1/pushes/?page=0"), status=400, error="validation_error")


def test_detail_shows_each_device_result(internal):
    device = PushDeviceResultFactory(status="failed", error_code="UNREGISTERED", message_id="", attempts=1)

    body = assert_envelope(internal.get(f"/api/v1/pushes/{device.notification.notification_id}/"), status=200)

    assert body["data"]["status"] == "delivered"
    assert body["data"]["devices"] == [
        {
            "token": device.token,
            "status": "failed",
            "error_code": "UNREGISTERED",
            "error_message": "",
            "message_id": "",
            "attempts": 1,
            "updated_at": body["data"]["devices"][0]["updated_at"],
        }
    ]


def test_detail_of_an_unknown_notification_is_404(internal):
    assert_envelope(internal.get(f"/api/v1/pushes/{uuid.uuid4()}/"), status=404, error="not_found")


def test_stats_count_by_status_per_window_with_the_consumer_heartbeat(internal, redis_client):
    PushNotificationFactory(status="delivered")
    old = PushNotificationFactory(status="failed")
    PushNotification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=3))
    heartbeat_write(HEARTBEAT_KEY, name="test-consumer")

    body = assert_envelope(internal.get("/api/v1/pushes/stats/"), status=200)

    assert body["data"]["by_status"] == {
        "last_hour": {"pending": 0, "delivered": 1, "failed": 0},
        "last_day": {"pending": 0, "delivered": 1, "failed": 1},
        "total": {"pending": 0, "delivered": 1, "failed": 1},
    }
    assert 0 <= body["data"]["consumer"]["heartbeat_age_seconds"] < 5


def test_stats_without_a_consumer_show_no_heartbeat(internal, redis_client):
    body = assert_envelope(internal.get("/api/v1/pushes/stats/"), status=200)

    assert body["data"]["consumer"] == {"heartbeat_age_seconds": None}


@pytest.mark.parametrize("path", ["/api/v1/pushes/", "/api/v1/pushes/stats/", f"/api/v1/pushes/{uuid.uuid4()}/"])
def test_without_credentials_is_401(api_client, path):
    assert_envelope(api_client.get(path), status=401, error="not_authenticated")


@pytest.mark.parametrize("path", ["/api/v1/pushes/", "/api/v1/pushes/stats/"])
def test_a_sender_key_or_a_user_token_is_not_enough(api_client, sender_key, user_token, path):
    api_client.credentials(HTTP_X_API_KEY=sender_key)
    assert_envelope(api_client.get(path), status=403, error="permission_denied")

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_token(uuid.uuid4())}")
    assert_envelope(api_client.get(path), status=403, error="permission_denied")
