"""pytest fixtures shared by every service's tests.

Tests run against the real PostgreSQL, Redis and RabbitMQ, isolated from a running dev
stack: RabbitMQ vhost ``notifications_test`` and Redis database 15.
"""

import os

import pytest

from notification_devtools.testing import TEST_RABBITMQ_URL, TEST_REDIS_URL, issue_user_token
from notification_devtools.testing.tcp_proxy import database_proxy, rabbitmq_proxy, redis_proxy  # noqa: F401

# Each service's tests get their own vhost and Redis database, so suites that run at the
# same time (developers, parallel CI jobs) never purge or flush each other's state.
_REDIS_DB = {
    "api_gateway_service": 8,
    "user_service": 9,
    "template_service": 10,
    "email_service": 11,
    "push_service": 12,
    "admin_service": 13,
}


def _service_name() -> str:
    from django.conf import settings

    return settings.NOTIFICATION_COMMON.get("SERVICE_NAME", "tests")


def _test_rabbitmq_url() -> str:
    return os.environ.get("TEST_RABBITMQ_URL", f"{TEST_RABBITMQ_URL}_{_service_name()}")


def _test_redis_url() -> str:
    default = TEST_REDIS_URL.rsplit("/", 1)[0] + f"/{_REDIS_DB.get(_service_name(), 15)}"
    return os.environ.get("TEST_REDIS_URL", default)


@pytest.fixture(scope="session", autouse=True)
def _isolated_infrastructure():
    """Point the service at the test vhost and Redis database for the whole session."""
    from django.conf import settings
    from django.test import override_settings

    from notification_common.conf import common_settings
    from notification_common.redis_client import get_redis
    from notification_common.service_clients import reset_clients
    from notification_common.vhosts import ensure_vhost

    ensure_vhost(_test_rabbitmq_url())
    common = dict(settings.NOTIFICATION_COMMON)
    common.update(RABBITMQ_URL=_test_rabbitmq_url(), REDIS_URL=_test_redis_url(), ADMIN_SERVICE_URL="")
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    for conf in caches.values():
        if conf["BACKEND"].endswith("RedisCache"):
            conf["LOCATION"] = _test_redis_url()
    with override_settings(NOTIFICATION_COMMON=common, CACHES=caches):
        common_settings.reload()
        reset_clients()
        get_redis().flushdb()
        yield
    common_settings.reload()


@pytest.fixture
def redis_client():
    from notification_common.redis_client import get_redis

    client = get_redis()
    client.flushdb()
    yield client


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def internal_key() -> str:
    from notification_common.conf import common_settings

    for key, scopes in common_settings.BOOTSTRAP_API_KEYS.items():
        if "internal" in scopes:
            return key
    raise RuntimeError("no bootstrap key with the internal scope configured")


@pytest.fixture
def sender_key() -> str:
    from notification_common.conf import common_settings

    for key, scopes in common_settings.BOOTSTRAP_API_KEYS.items():
        if "notifications:send" in scopes and "internal" not in scopes:
            return key
    raise RuntimeError("no bootstrap key with the notifications:send scope configured")


@pytest.fixture
def user_token():
    """``user_token(user_id)`` -> a signed access token for that user."""
    return issue_user_token


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    from notification_common.vhosts import ensure_vhost

    url = _test_rabbitmq_url()
    ensure_vhost(url)
    return url


@pytest.fixture
def rabbit_channel(rabbitmq_url):
    """A channel on the test vhost with the topology declared and every queue purged."""
    from notification_common.rabbitmq import connect, declare_topology
    from notification_devtools.testing.rabbit import purge_topology

    connection = connect(rabbitmq_url)
    channel = connection.channel()
    declare_topology(channel)
    purge_topology(channel)
    yield channel
    purge_topology(channel)
    connection.close()


@pytest.fixture
def stub_server():
    """A loopback HTTP server standing in for another service (see testing/http.py)."""
    from notification_devtools.testing.http import StubHTTPServer

    server = StubHTTPServer()
    yield server
    server.close()


@pytest.fixture
def healthy_service():
    """Makes a service's own health dependencies healthy; services with a consumer
    heartbeat or an SMTP server override it (see testing/service_contract.py)."""
    return None


class MovableClock:
    """A monotonic clock a test moves by hand: ``clock.now += seconds``."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def remembered_keys_clock(monkeypatch) -> MovableClock:
    """The clock of the in-process API-key verdicts (notification_common.remembered_api_keys),
    moved by the test instead of sleeping past API_KEY_LOCAL_CACHE_SECONDS."""
    from notification_common import remembered_api_keys

    clock = MovableClock()
    monkeypatch.setattr(remembered_api_keys, "_clock", clock)
    return clock
