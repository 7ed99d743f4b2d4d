"""The gateway during a PostgreSQL or Redis outage: 503 with Retry-After (never 500) while it
lasts, 202 after, and a request answered 202 is never lost when the database goes away
right after it (docs/operations.md, "Outages").

Real PostgreSQL and Redis behind a loopback proxy the test cuts (notification_common
testing/tcp_proxy.py); requests go over HTTP to the live server (Django's real WSGI handler).
"""

import time

import pytest
import requests
from django.core.management import call_command

from notification_common.rabbitmq import EMAIL_QUEUE
from notification_devtools.testing.rabbit import drain
from notifications.models import NotificationRequest, OutboxMessage
from notifications.services import outbox as outbox_service
from notifications.tests.conftest import NOTIFICATIONS_URL, notification_body

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def post(live_server, sender_key):
    def send(body):
        return requests.post(
            f"{live_server.url}{NOTIFICATIONS_URL}", json=body, headers={"X-API-Key": sender_key}, timeout=15
        )

    return send


def assert_503_with_retry_after(response, dependency: str) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["success"] is False and body["error"] == "dependency_unavailable"
    assert body["data"] == {"dependency": dependency}
    assert int(response.headers["Retry-After"]) >= 1


def until_accepted(post, body, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        response = post(body)
        assert response.status_code in (202, 200, 503), response.text  # never a 500 on the way back
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def test_notification_create_answers_503_while_the_database_is_cut_and_202_after(
    post, user_service, rabbit_channel, fresh_rate_limits, database_proxy
):
    user_id = user_service.add_user()
    body = notification_body(user_id, request_id="outage-db-1")

    database_proxy.cut()
    assert_503_with_retry_after(post(body), "database")

    database_proxy.restore()
    response = until_accepted(post, body)

    assert response.status_code == 202
    notification_id = response.json()["data"]["notification_id"]
    assert NotificationRequest.objects.filter(idempotency_key="outage-db-1").count() == 1
    [(message, _)] = drain(rabbit_channel, EMAIL_QUEUE)
    assert message["notification_id"] == notification_id


def test_notification_create_never_answers_500_while_redis_is_cut(
    post, user_service, rabbit_channel, fresh_rate_limits, redis_proxy
):
    user_id = user_service.add_user()

    redis_proxy.cut()
    during = post(notification_body(user_id, request_id="outage-redis-1"))

    # The rate limiter and the user cache fail open (docs/api_gateway.md): the request is
    # taken; anything that cannot do without Redis answers 503, never 500.
    assert during.status_code in (202, 503), during.text
    if during.status_code == 503:
        assert_503_with_retry_after(during, "redis")
    redis_proxy.restore()
    after = until_accepted(post, notification_body(user_id, request_id="outage-redis-2"))
    assert after.status_code == 202


def test_a_list_endpoint_answers_503_while_the_database_is_cut(live_server, sender_key, database_proxy):
    def listing():
        return requests.get(f"{live_server.url}{NOTIFICATIONS_URL}", headers={"X-API-Key": sender_key}, timeout=15)

    database_proxy.cut()
    assert_503_with_retry_after(listing(), "database")

    database_proxy.restore()
    deadline = time.monotonic() + 15
    while (response := listing()).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert response.status_code == 200


def test_an_accepted_request_is_published_even_if_the_database_goes_away_right_after_commit(
    post, user_service, rabbit_channel, fresh_rate_limits, database_proxy, monkeypatch
):
    user_id = user_service.add_user()
    publish = outbox_service._publish

    def database_gone_then_publish(publisher, outbox, body=None):
        # Failure injection at the boundary: the database drops between the commit and the
        # publish, so the row can be neither marked published nor counted as a failure.
        database_proxy.cut()
        publish(publisher, outbox, body)

    monkeypatch.setattr(outbox_service, "_publish", database_gone_then_publish)

    response = post(notification_body(user_id, request_id="gone-after-commit"))

    assert response.status_code == 202, response.text  # committed before the outage: accepted
    notification_id = response.json()["data"]["notification_id"]
    monkeypatch.setattr(outbox_service, "_publish", publish)
    database_proxy.restore()

    # The row stayed unmarked, so the relay publishes it again: a duplicate copy with the same
    # message id, which the workers' idempotency (one delivery per notification id) absorbs.
    row = OutboxMessage.objects.get(notification_id=notification_id)
    assert row.published_at is None
    call_command("relay_outbox", "--once", "--grace-seconds=0", stdout=open("/dev/null", "w"))
    row.refresh_from_db()
    assert row.published_at is not None
    copies = drain(rabbit_channel, EMAIL_QUEUE)
    assert len(copies) == 2
    assert {properties.message_id for _, properties in copies} == {notification_id}
    assert {message["notification_id"] for message, _ in copies} == {notification_id}
