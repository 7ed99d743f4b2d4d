"""Rate limits, health and env helpers against the real Redis, RabbitMQ and PostgreSQL."""

import json
import logging

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from notification_common import ratelimit
from notification_common.env import database_from_url, env_bool, parse_api_keys
from notification_common.exceptions import RateLimited
from notification_common.logging import JsonFormatter
from notification_common.request_context import request_id_scope
from notification_devtools.testing import assert_envelope


def test_rate_limit_allows_up_to_the_limit_then_says_when_to_retry(redis_client):
    results = [ratelimit.hit("t:key", limit=3, window_seconds=30) for _ in range(4)]

    assert [allowed for allowed, _ in results] == [True, True, True, False]
    assert 1 <= results[-1][1] <= 30


def test_enforce_raises_429_with_retry_after(redis_client):
    ratelimit.enforce("t:enf", limit=1, window_seconds=10)

    with pytest.raises(RateLimited) as raised:
        ratelimit.enforce("t:enf", limit=1, window_seconds=10)

    assert raised.value.status_code == 429
    assert int(raised.value.headers["Retry-After"]) >= 1


@pytest.mark.django_db
def test_health_names_rabbitmq_when_the_broker_is_unreachable(api_client, settings):
    common = dict(settings.NOTIFICATION_COMMON, RABBITMQ_URL="amqp://guest:guest@127.0.0.1:1/")
    with override_settings(NOTIFICATION_COMMON=common):
        body = assert_envelope(api_client.get("/api/v1/health/"), status=503, error="dependency_unavailable")

    assert body["data"]["checks"]["rabbitmq"]["status"] == "down"
    assert body["data"]["checks"]["redis"]["status"] == "up"


@pytest.mark.django_db
def test_health_is_200_with_all_three_dependencies_up(api_client):
    body = assert_envelope(api_client.get("/api/v1/health/"), status=200)

    assert {name: c["status"] for name, c in body["data"]["checks"].items()} == {
        "database": "up",
        "redis": "up",
        "rabbitmq": "up",
    }


def test_log_lines_are_json_with_the_request_id():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("there",), None)
    record.notification_id = "n-1"

    with request_id_scope("rid-7"):
        line = json.loads(JsonFormatter(service="svc").format(record))

    assert line["message"] == "hello there"
    assert line["request_id"] == "rid-7"
    assert line["service"] == "svc"
    assert line["notification_id"] == "n-1"


def test_database_url_is_parsed_and_bad_schemes_refused():
    db = database_from_url("postgres://u:p%40ss@db.local:5433/user_db")

    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "user_db",
        "u",
        "p@ss",
        "db.local",
        "5433",
    )
    with pytest.raises(ImproperlyConfigured):
        database_from_url("sqlite:///x.db")


def test_env_bool_refuses_nonsense(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")

    with pytest.raises(ImproperlyConfigured):
        env_bool("FLAG")


def test_bootstrap_keys_parse_with_scopes_containing_colons():
    assert parse_api_keys("a=internal;b=notifications:send,templates:write") == {
        "a": ["internal"],
        "b": ["notifications:send", "templates:write"],
    }
