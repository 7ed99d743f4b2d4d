"""The health endpoint reports each dependency of the push service."""

import pytest
from django.test import override_settings

from notification_common.testing import assert_envelope

pytestmark = pytest.mark.django_db

EXPECTED_CHECKS = {"database", "redis", "rabbitmq"}


def test_health_answers_200_with_every_dependency_up(api_client):
    response = api_client.get("/api/v1/health/")

    body = assert_envelope(response, status=200)
    assert body["data"]["service"] == "push_service"
    assert set(body["data"]["checks"]) == EXPECTED_CHECKS
    assert all(check["status"] == "up" for check in body["data"]["checks"].values())


def test_health_answers_503_naming_redis_when_redis_is_unreachable(api_client, settings):
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
