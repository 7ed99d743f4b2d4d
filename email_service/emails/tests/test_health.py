"""The health endpoint reports each dependency of the email service, the consumer's
heartbeat and the SMTP server's reachability."""

import time

import pytest
from django.test import override_settings

from emails.heartbeat import heartbeat_write
from notification_common.testing import assert_envelope

pytestmark = pytest.mark.django_db

EXPECTED_CHECKS = {"database", "redis", "rabbitmq", "consumer", "smtp"}


@pytest.fixture
def consumer_alive(redis_client):
    heartbeat_write()


def test_health_answers_200_with_every_dependency_up(api_client, smtp_server, consumer_alive):
    response = api_client.get("/api/v1/health/")

    body = assert_envelope(response, status=200)
    assert body["data"]["service"] == "email_service"
    assert set(body["data"]["checks"]) == EXPECTED_CHECKS
    assert all(check["status"] == "up" for check in body["data"]["checks"].values())
    assert body["data"]["checks"]["consumer"]["heartbeat_age_seconds"] < 5


def test_health_answers_503_naming_smtp_when_the_smtp_server_is_down(api_client, smtp_server, consumer_alive):
    smtp_server.set_down(True)

    body = assert_envelope(api_client.get("/api/v1/health/"), status=503, error="dependency_unavailable")

    assert body["data"]["checks"]["smtp"]["status"] == "down"
    assert "smtp" in body["message"]
    assert body["data"]["checks"]["consumer"]["status"] == "up"


def test_health_answers_503_naming_the_consumer_without_a_heartbeat(api_client, smtp_server, redis_client):
    body = assert_envelope(api_client.get("/api/v1/health/"), status=503, error="dependency_unavailable")

    assert body["data"]["checks"]["consumer"]["status"] == "down"
    assert body["data"]["checks"]["consumer"]["error"] == "no heartbeat from consume_emails"


def test_health_answers_503_when_the_heartbeat_is_stale(api_client, smtp_server, redis_client, settings):
    heartbeat_write(now=time.time() - settings.EMAIL_HEARTBEAT_MAX_AGE_SECONDS - 5)

    body = assert_envelope(api_client.get("/api/v1/health/"), status=503)

    assert body["data"]["checks"]["consumer"]["status"] == "down"


def test_missing_consumer_is_only_a_warning_when_not_required(api_client, smtp_server, redis_client, settings):
    settings.EMAIL_HEALTH_REQUIRE_CONSUMER = False

    body = assert_envelope(api_client.get("/api/v1/health/"), status=200)

    assert body["data"]["checks"]["consumer"]["warning"] == "no heartbeat from consume_emails"


def test_health_answers_503_naming_redis_when_redis_is_unreachable(api_client, smtp_server, settings):
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
