"""The health endpoint reports each dependency of the email service, the consumer's
heartbeat and the SMTP server's reachability."""

import time

import pytest

from emails.constants import HEARTBEAT_KEY
from notification_common.heartbeat import heartbeat_write
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.service_contract import *  # noqa: F403

pytestmark = pytest.mark.django_db

EXPECTED_CHECKS = {"database", "redis", "rabbitmq", "status_reports", "consumer", "smtp"}


@pytest.fixture
def consumer_alive(redis_client):
    heartbeat_write(HEARTBEAT_KEY, name="EmailConsumer:email.queue")


def test_health_answers_503_naming_smtp_when_the_smtp_server_is_down(
    api_client, smtp_server, consumer_alive, internal_key
):
    smtp_server.set_down(True)

    body = assert_envelope(
        api_client.get("/api/v1/health/", HTTP_X_API_KEY=internal_key), status=503, error="dependency_unavailable"
    )

    assert body["data"]["checks"]["smtp"]["status"] == "down"
    assert "smtp" in body["message"]
    assert body["data"]["checks"]["consumer"]["status"] == "up"


def test_health_answers_503_naming_the_consumer_without_a_heartbeat(
    api_client, smtp_server, redis_client, internal_key
):
    body = assert_envelope(
        api_client.get("/api/v1/health/", HTTP_X_API_KEY=internal_key), status=503, error="dependency_unavailable"
    )

    assert body["data"]["checks"]["consumer"]["status"] == "down"
    assert body["data"]["checks"]["consumer"]["error"] == "no heartbeat from consume_emails"


def test_health_answers_503_when_the_heartbeat_is_stale(api_client, smtp_server, redis_client, settings, internal_key):
    heartbeat_write(
        HEARTBEAT_KEY, name="EmailConsumer:email.queue", now=time.time() - settings.EMAIL_HEARTBEAT_MAX_AGE_SECONDS - 5
    )

    body = assert_envelope(api_client.get("/api/v1/health/", HTTP_X_API_KEY=internal_key), status=503)

    assert body["data"]["checks"]["consumer"]["status"] == "down"


def test_missing_consumer_is_only_a_warning_when_not_required(
    api_client, smtp_server, redis_client, settings, internal_key
):
    settings.EMAIL_HEALTH_REQUIRE_CONSUMER = False

    body = assert_envelope(api_client.get("/api/v1/health/", HTTP_X_API_KEY=internal_key), status=200)

    assert body["data"]["checks"]["consumer"]["warning"] == "no heartbeat from consume_emails"


@pytest.fixture
def expected_health_checks():
    return EXPECTED_CHECKS


@pytest.fixture
def healthy_service(smtp_server, consumer_alive):
    return None


def test_repeated_smtp_checks_reuse_one_session(smtp_server):
    from emails.health import check_smtp

    first = check_smtp()
    later = [check_smtp() for _ in range(5)]

    assert first["status"] == "up"
    assert all(result == {**first, "reused": True} for result in later)


def test_a_dropped_smtp_session_is_reopened_after_an_outage(smtp_server):
    from emails.health import check_smtp

    check_smtp()
    smtp_server.set_down(True)
    with pytest.raises(OSError):  # run_checks() reports a raising check as "down"
        check_smtp()
    smtp_server.set_down(False)

    assert check_smtp()["reused"] is False
