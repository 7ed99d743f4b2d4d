"""The health endpoint reports each dependency of the push service and the consumer's heartbeat."""

import json
import time

import pytest
from django.test import override_settings

from notification_common.testing import assert_envelope
from pushes import heartbeat
from pushes.constants import HEARTBEAT_KEY

pytestmark = pytest.mark.django_db

EXPECTED_CHECKS = {"database", "redis", "rabbitmq", "consumer"}


@pytest.fixture
def consumer_alive(redis_client):
    heartbeat.beat("test-consumer")


def test_health_answers_200_with_every_dependency_up(api_client, consumer_alive):
    response = api_client.get("/api/v1/health/")

    body = assert_envelope(response, status=200)
    assert body["data"]["service"] == "push_service"
    assert set(body["data"]["checks"]) == EXPECTED_CHECKS
    assert all(check["status"] == "up" for check in body["data"]["checks"].values())


def test_health_answers_503_naming_the_consumer_when_none_has_beaten(api_client, redis_client):
    body = assert_envelope(api_client.get("/api/v1/health/"), status=503, error="dependency_unavailable")

    assert body["data"]["checks"]["consumer"] == {
        "status": "down",
        "heartbeat_age_seconds": None,
        "error": "no consumer heartbeat",
        "latency_ms": body["data"]["checks"]["consumer"]["latency_ms"],
    }
    assert "consumer" in body["message"]


def test_health_answers_503_when_the_consumer_heartbeat_is_stale(api_client, redis_client, settings):
    redis_client.set(HEARTBEAT_KEY, json.dumps({"at": time.time() - 600, "consumer": "gone", "pid": 1}))

    body = assert_envelope(api_client.get("/api/v1/health/"), status=503, error="dependency_unavailable")

    assert body["data"]["checks"]["consumer"]["status"] == "down"
    assert body["data"]["checks"]["consumer"]["heartbeat_age_seconds"] >= 600


def test_health_answers_503_naming_redis_when_redis_is_unreachable(api_client, settings, consumer_alive):
    common = dict(settings.NOTIFICATION_COMMON, REDIS_URL="redis://127.0.0.1:1/0")
    with override_settings(NOTIFICATION_COMMON=common):
        response = api_client.get("/api/v1/health/")

    body = assert_envelope(response, status=503, error="dependency_unavailable")
    assert body["data"]["checks"]["redis"]["status"] == "down"
    assert "redis" in body["message"]
    assert body["data"]["checks"]["database"]["status"] == "up"


def test_liveness_touches_nothing_and_answers(api_client):
    assert_envelope(api_client.get("/api/v1/health/live/"), status=200)


def test_metrics_count_requests_by_route_and_status(api_client):
    api_client.get("/api/v1/health/live/")

    metrics = api_client.get("/metrics").content.decode()

    assert 'route="/api/v1/health/live/"' in metrics
    assert "http_request_duration_seconds_bucket" in metrics


def test_openapi_schema_and_swagger_ui_are_served(api_client):
    assert api_client.get("/api/schema/").status_code == 200
    assert api_client.get("/api/docs/").status_code == 200


def test_request_id_is_returned_and_generated_when_missing(api_client):
    given = api_client.get("/api/v1/health/live/", HTTP_X_REQUEST_ID="abc-123")
    generated = api_client.get("/api/v1/health/live/")

    assert given["X-Request-ID"] == "abc-123"
    assert len(generated["X-Request-ID"]) == 32
