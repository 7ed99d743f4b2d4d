"""The health endpoint reports each dependency of the api gateway."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notification_devtools.testing import assert_envelope
from notification_devtools.testing.service_contract import *  # noqa: F403
from notifications.models import OutboxMessage
from notifications.tests.factories import OutboxMessageFactory

pytestmark = pytest.mark.django_db

EXPECTED_CHECKS = {"database", "redis", "rabbitmq", "outbox"}


def test_health_reports_the_outbox_backlog_and_its_age(api_client, internal_key):
    row = OutboxMessageFactory()
    OutboxMessage.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(seconds=30))

    body = assert_envelope(api_client.get("/api/v1/health/", HTTP_X_API_KEY=internal_key), status=200)

    outbox = body["data"]["checks"]["outbox"]
    assert outbox["status"] == "up"
    assert outbox["backlog"] == 1
    assert outbox["oldest_age_seconds"] >= 30


def test_health_is_503_when_the_oldest_unpublished_message_is_stale(api_client, settings, internal_key):
    settings.OUTBOX_STALE_SECONDS = 300
    row = OutboxMessageFactory()
    OutboxMessage.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(minutes=6))

    body = assert_envelope(
        api_client.get("/api/v1/health/", HTTP_X_API_KEY=internal_key), status=503, error="dependency_unavailable"
    )

    assert body["data"]["checks"]["outbox"]["status"] == "down"
    assert "outbox" in body["message"]


@pytest.fixture
def expected_health_checks():
    return EXPECTED_CHECKS
