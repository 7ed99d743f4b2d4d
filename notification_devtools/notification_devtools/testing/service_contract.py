"""Tests every service must pass: health, liveness, metrics, OpenAPI, request ids, 404s.

A service's ``tests/test_health.py`` imports them
(``from notification_devtools.testing.service_contract import *``) and defines two fixtures:
``expected_health_checks`` (the set of checks its health lists) and, when it has dependencies
of its own (a consumer heartbeat, SMTP), ``healthy_service``
which makes them healthy for the duration of a test.
"""

import pytest
from django.test import override_settings

from notification_common.pagination import max_page
from notification_devtools.testing import assert_envelope

# One paginated list of each service and the fixture that gives a client allowed to read it.
PAGINATED_LISTS = {
    "api_gateway_service": ("/api/v1/notifications/", "sender_key"),
    "user_service": ("/api/v1/users/", "internal_key"),
    "template_service": ("/api/v1/templates/", "internal_key"),
    "email_service": ("/api/v1/emails/", "internal_key"),
    "push_service": ("/api/v1/pushes/", "internal_key"),
    "admin_service": ("/api/v1/admin/api-keys/", "admin_api"),
}

__all__ = [
    "paginated_list",
    "test_a_page_beyond_the_cap_is_a_validation_error_not_a_500",
    "test_health_answers_200_with_every_dependency_up",
    "test_health_answers_503_naming_redis_when_redis_is_unreachable",
    "test_liveness_touches_nothing_and_answers",
    "test_metrics_count_requests_by_route_and_status",
    "test_openapi_schema_and_swagger_ui_are_served",
    "test_request_id_is_returned_and_generated_when_missing",
    "test_unknown_path_answers_404_in_the_envelope",
]


@pytest.mark.django_db
def test_health_answers_200_with_every_dependency_up(api_client, settings, expected_health_checks, healthy_service):
    response = api_client.get("/api/v1/health/")

    body = assert_envelope(response, status=200)
    assert body["data"]["service"] == settings.NOTIFICATION_COMMON["SERVICE_NAME"]
    assert set(body["data"]["checks"]) == set(expected_health_checks)
    assert all(check["status"] == "up" for check in body["data"]["checks"].values())


@pytest.mark.django_db
def test_health_answers_503_naming_redis_when_redis_is_unreachable(api_client, settings, healthy_service):
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


def test_unknown_path_answers_404_in_the_envelope(api_client):
    assert_envelope(api_client.get("/api/v1/no-such-endpoint/"), status=404, error="not_found")


@pytest.fixture
def paginated_list(request, settings, api_client):
    """(client, path) of one list of this service, the client allowed to read it."""
    path, credential = PAGINATED_LISTS[settings.NOTIFICATION_COMMON["SERVICE_NAME"]]
    if credential.endswith("_key"):
        api_client.credentials(HTTP_X_API_KEY=request.getfixturevalue(credential))
        return api_client, path
    return request.getfixturevalue(credential), path


@pytest.mark.django_db
def test_a_page_beyond_the_cap_is_a_validation_error_not_a_500(paginated_list):
    client, path = paginated_list
    # The bigint overflow of the fuzzing run, and the first page past the cap.
    for page in ("922337203685477580", str(max_page() + 1)):
        body = assert_envelope(client.get(path, {"page": page}), status=400, error="validation_error")
        assert "page" in body["data"], body

    # At the cap, past the last page: an empty page, not an error.
    body = assert_envelope(client.get(path, {"page": max_page()}), status=200)
    assert body["data"] == []
    assert body["meta"]["page"] == max_page()
