"""The health endpoint reports each dependency of the push service and the consumer's heartbeat."""

import json
import time

import pytest

from notification_common.heartbeat import heartbeat_write
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.service_contract import *  # noqa: F403
from pushes.constants import HEARTBEAT_KEY

pytestmark = pytest.mark.django_db

EXPECTED_CHECKS = {"database", "redis", "rabbitmq", "consumer", "status_reports"}


@pytest.fixture
def consumer_alive(redis_client):
    heartbeat_write(HEARTBEAT_KEY, name="test-consumer")


def test_health_answers_503_naming_the_consumer_when_none_has_beaten(api_client, redis_client, internal_key):
    body = assert_envelope(
        api_client.get("/api/v1/health/", HTTP_X_API_KEY=internal_key), status=503, error="dependency_unavailable"
    )

    assert body["data"]["checks"]["consumer"] == {
        "status": "down",
        "heartbeat_age_seconds": None,
        "error": "no consumer heartbeat",
        "latency_ms": body["data"]["checks"]["consumer"]["latency_ms"],
    }
    assert "consumer" in body["message"]


def test_health_answers_503_when_the_consumer_heartbeat_is_stale(api_client, redis_client, settings, internal_key):
    redis_client.set(HEARTBEAT_KEY, json.dumps({"at": time.time() - 600, "consumer": "gone", "pid": 1}))

    body = assert_envelope(
        api_client.get("/api/v1/health/", HTTP_X_API_KEY=internal_key), status=503, error="dependency_unavailable"
    )

    assert body["data"]["checks"]["consumer"]["status"] == "down"
    assert body["data"]["checks"]["consumer"]["heartbeat_age_seconds"] >= 600


@pytest.fixture
def expected_health_checks():
    return EXPECTED_CHECKS


@pytest.fixture
def healthy_service(consumer_alive):
    return None
