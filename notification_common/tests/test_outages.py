"""While PostgreSQL, Redis or RabbitMQ is down every path answers 503 with Retry-After, never 500.

The servers are the real ones, reached through a loopback TCP proxy the test cuts and
restores (testing/tcp_proxy.py); requests go over HTTP to pytest-django's live server, which
runs Django's real WSGI handler (a connection per request, closed when unusable).
"""

import django.db
import pika.exceptions
import psycopg
import pytest
import redis
import requests

from notification_common.exceptions import outage_dependency
from notification_common.rabbitmq.publisher import PublishError
from notification_devtools.testing.tcp_proxy import TcpProxy
from notification_devtools.testing.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def get(live_server, path: str) -> requests.Response:
    return requests.get(f"{live_server.url}{path}", timeout=15)


def assert_outage(response: requests.Response, dependency: str) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert set(body) == {"success", "data", "error", "message", "meta"}
    assert body["success"] is False
    assert body["error"] == "dependency_unavailable"
    assert body["data"] == {"dependency": dependency}
    assert int(response.headers["Retry-After"]) >= 1


def eventually_ok(live_server, path: str, timeout: float = 15.0) -> requests.Response:
    """The first 2xx after a restore (a pooled connection may need one request to be replaced)."""

    def answered_ok() -> requests.Response | None:
        response = get(live_server, path)
        assert response.status_code in (200, 503), response.text  # never a 500 on the way back
        return response if response.status_code == 200 else None

    return wait_until(answered_ok, timeout=timeout, what=f"a 200 from {path}")


# -- over HTTP, through the proxy ---------------------------------------------------------------


@pytest.mark.parametrize("refuse", [True, False], ids=["refused", "closed"])
def test_a_drf_view_answers_503_while_the_database_is_cut_and_200_after(live_server, database_proxy, refuse):
    assert get(live_server, "/t/outage/db/").status_code == 200

    database_proxy.cut(refuse=refuse)
    assert_outage(get(live_server, "/t/outage/db/"), "database")

    database_proxy.restore()
    assert eventually_ok(live_server, "/t/outage/db/").status_code == 200


def test_a_plain_django_view_answers_503_while_the_database_is_cut(live_server, database_proxy):
    database_proxy.cut()

    assert_outage(get(live_server, "/t/outage/plain-db/"), "database")

    database_proxy.restore()
    assert eventually_ok(live_server, "/t/outage/plain-db/").status_code == 200


def test_a_middleware_hitting_the_database_answers_503_through_the_500_handler(live_server, database_proxy):
    database_proxy.cut()

    assert_outage(get(live_server, "/t/outage/middleware-db/"), "database")

    database_proxy.restore()
    assert eventually_ok(live_server, "/t/outage/middleware-db/").status_code == 200


def test_a_drf_view_answers_503_while_redis_is_cut_and_200_after(live_server, redis_proxy):
    assert get(live_server, "/t/outage/redis/").status_code == 200

    redis_proxy.cut()
    assert_outage(get(live_server, "/t/outage/redis/"), "redis")

    redis_proxy.restore()
    assert eventually_ok(live_server, "/t/outage/redis/").status_code == 200


def test_a_view_publishing_to_the_broker_answers_503_while_rabbitmq_is_cut_and_200_after(
    live_server, rabbit_channel, rabbitmq_proxy
):
    def publish():
        return requests.post(f"{live_server.url}/t/outage/publish/", timeout=30)

    assert publish().status_code == 200

    rabbitmq_proxy.cut()
    assert_outage(publish(), "rabbitmq")

    rabbitmq_proxy.restore()

    def published() -> bool:
        response = publish()
        assert response.status_code in (200, 503), response.text
        return response.status_code == 200

    wait_until(published, timeout=15, what="a publish once the broker is back")


def test_health_names_the_database_when_it_is_cut(live_server, database_proxy):
    database_proxy.cut()

    response = get(live_server, "/api/v1/health/")

    assert response.status_code == 503
    assert response.json()["data"]["checks"]["database"]["status"] == "down"


def test_a_real_bug_in_sql_is_still_a_500(live_server):
    response = get(live_server, "/t/outage/bad-sql/")

    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "no_such_table" not in response.text  # no SQL reaches the client


# -- which errors are outages -------------------------------------------------------------------


def _raised_while_handling(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception:
            raise outer  # noqa: B904 - the point: an implicit context, not a cause
    except Exception as exc:
        return exc


def _raised_from(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as exc:
            raise outer from exc
    except Exception as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "dependency"),
    [
        (django.db.OperationalError("server closed the connection unexpectedly"), "database"),
        (django.db.InterfaceError("connection already closed"), "database"),
        (psycopg.OperationalError("connection refused"), "database"),
        (redis.exceptions.ConnectionError("Connection refused"), "redis"),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), "redis"),
        (pika.exceptions.AMQPConnectionError("refused"), "rabbitmq"),
        (pika.exceptions.StreamLostError("lost"), "rabbitmq"),
        (_raised_from(PublishError("publish failed"), pika.exceptions.StreamLostError("lost")), "rabbitmq"),
        (_raised_from(RuntimeError("wrapped"), django.db.OperationalError("gone")), "database"),
    ],
)
def test_outages_are_recognised(error, dependency):
    assert outage_dependency(error) == dependency


@pytest.mark.parametrize(
    "error",
    [
        django.db.IntegrityError("duplicate key"),
        django.db.DataError("bigint out of range"),
        django.db.ProgrammingError("no such table"),
        redis.exceptions.ResponseError("WRONGTYPE"),
        _raised_from(PublishError("nacked by broker"), pika.exceptions.NackError([])),
        ValueError("a bug"),
        # A bug hit while handling an outage (e.g. in an on_commit error handler) stays a bug.
        _raised_while_handling(AttributeError("no __qualname__"), django.db.OperationalError("gone")),
    ],
)
def test_errors_a_retry_will_not_fix_are_not_outages(error):
    assert outage_dependency(error) is None


def test_the_proxy_forwards_refuses_and_comes_back_on_the_same_port():
    client = redis.Redis(host="127.0.0.1", port=6379)
    with TcpProxy("127.0.0.1", 6379) as proxy:
        port = proxy.port
        through = redis.Redis(host=proxy.host, port=port, socket_connect_timeout=1, socket_timeout=1)
        assert through.ping() and client.ping()

        proxy.cut()
        with pytest.raises(redis.exceptions.ConnectionError):
            through.ping()

        proxy.restore()
        assert proxy.port == port
        assert through.ping()
    through.close()
    client.close()
