"""Health: anonymous callers see up/down only; internal keys see details; checks reuse the
process's connections instead of opening new ones on every probe."""

import pytest
from django.test import override_settings

from notification_common import health
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db

BROKEN_BROKER = "amqp://guest:guest@127.0.0.1:1/"


def test_anonymous_callers_see_only_up_or_down_per_dependency(api_client, settings):
    common = dict(settings.NOTIFICATION_COMMON, RABBITMQ_URL=BROKEN_BROKER)
    with override_settings(NOTIFICATION_COMMON=common):
        body = assert_envelope(api_client.get("/api/v1/health/"), status=503, error="dependency_unavailable")

    assert body["data"]["checks"] == {
        "database": {"status": "up"},
        "redis": {"status": "up"},
        "rabbitmq": {"status": "down"},
    }


def test_an_internal_key_sees_the_error_and_latency(api_client, internal_key, settings):
    common = dict(settings.NOTIFICATION_COMMON, RABBITMQ_URL=BROKEN_BROKER)
    with override_settings(NOTIFICATION_COMMON=common):
        response = api_client.get("/api/v1/health/", HTTP_X_API_KEY=internal_key)

    rabbitmq = assert_envelope(response, status=503)["data"]["checks"]["rabbitmq"]
    assert rabbitmq["status"] == "down" and rabbitmq["error"]
    assert "latency_ms" in rabbitmq


@pytest.mark.parametrize("key", ["garbage-key", "sender"])
def test_other_keys_get_the_short_answer_not_a_401(api_client, sender_key, key):
    response = api_client.get("/api/v1/health/", HTTP_X_API_KEY=sender_key if key == "sender" else key)

    checks = assert_envelope(response, status=200)["data"]["checks"]
    assert all(result == {"status": "up"} for result in checks.values())


def test_repeated_checks_reuse_one_broker_connection():
    health.check_rabbitmq()
    first = health._broker_probe._connection

    for _ in range(5):
        health.check_rabbitmq()

    assert health._broker_probe._connection is first and first.is_open


def test_a_lost_broker_connection_is_reopened_on_the_next_check():
    health.check_rabbitmq()
    health._broker_probe._connection.close()

    assert health.check_rabbitmq() == {"status": "up"}
    assert health._broker_probe._connection.is_open


def test_redis_checks_use_the_pooled_client():
    from notification_common.redis_client import get_redis

    pool = get_redis().connection_pool
    health.check_redis()
    created = pool._created_connections
    for _ in range(10):
        health.check_redis()

    assert pool._created_connections == created
