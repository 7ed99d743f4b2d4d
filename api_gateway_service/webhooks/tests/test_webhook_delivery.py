"""Sending deliveries: signed POSTs to a loopback receiver, retries with backoff on non-2xx
and timeouts, never after a 2xx, giving up after the budget, and the send-time URL check.
Time is passed in (``now=``): no test waits on the clock for a retry."""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from notifications.tests.factories import NotificationRequestFactory

from notification_devtools.testing.webhook_receiver import verify_signature
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import StatusEvent, webhook_deliveries_create, webhook_deliveries_send_due

pytestmark = pytest.mark.django_db

SENDER = "key:bootstrap:test"


def final_event(notification, status="delivered", error="", received_at=None):
    received_at = received_at or datetime.now(UTC)
    return StatusEvent(
        event_id=1,
        notification_id=notification.id,
        status=status,
        error=error,
        timestamp=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        received_at=received_at,
    )


@pytest.fixture
def endpoint(receiver):
    return WebhookEndpoint.objects.create(
        sender=SENDER, url=receiver.url, events=["delivered", "failed"], secret="whsec_test-secret"
    )


@pytest.fixture
def owed(endpoint):
    """A delivered event of one of the sender's notifications, owed to the endpoint."""
    notification = NotificationRequestFactory(sender=SENDER, idempotency_key="order-42")
    webhook_deliveries_create(events=[final_event(notification)])
    return WebhookDelivery.objects.get(), notification


def test_the_post_carries_the_event_signed_with_the_secret(receiver, owed):
    delivery, notification = owed
    now = datetime.now(UTC)

    webhook_deliveries_send_due(now=now)

    [request] = receiver.requests
    assert json.loads(request["body"]) == {
        "event": "delivered",
        "notification_id": str(notification.id),
        "request_id": "order-42",
        "channel": "email",
        "status": "delivered",
        "error": None,
        "occurred_at": "2026-12-01T12:00:00+00:00",
    }
    header = request["headers"]["X-Notification-Signature"]
    assert header.startswith(f"t={int(now.timestamp())},v1=")
    assert verify_signature("whsec_test-secret", request["body"], header, now=now.timestamp())
    assert not verify_signature("whsec_other", request["body"], header, now=now.timestamp())
    assert not verify_signature("whsec_test-secret", request["body"] + b" ", header, now=now.timestamp())
    assert not verify_signature("whsec_test-secret", request["body"], header, now=now.timestamp() + 3600)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)


def test_a_500_is_retried_with_backoff_and_delivered_once(receiver, owed, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    delivery, _ = owed
    receiver.statuses = [500]
    now = datetime.now(UTC)

    webhook_deliveries_send_due(now=now)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert now + timedelta(seconds=8) <= delivery.next_attempt_at <= now + timedelta(seconds=10)
    assert webhook_deliveries_send_due(now=now + timedelta(seconds=5)) == []  # not due yet

    webhook_deliveries_send_due(now=now + timedelta(seconds=10))
    webhook_deliveries_send_due(now=now + timedelta(days=2))

    assert [request["answered"] for request in receiver.requests] == [500, 200]
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 2)
    assert [attempt["status_code"] for attempt in delivery.history] == [500, 200]
    assert delivery.next_attempt_at is None


def test_a_2xx_is_never_retried(receiver, owed):
    receiver.statuses = [204]
    now = datetime.now(UTC)

    webhook_deliveries_send_due(now=now)
    for hours in (1, 24, 48):
        webhook_deliveries_send_due(now=now + timedelta(hours=hours))

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().state == "delivered"


def test_a_redirect_is_not_followed_and_counts_as_a_failure(receiver, owed):
    receiver.statuses = [302]

    webhook_deliveries_send_due(now=datetime.now(UTC))

    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().state == "pending"


def test_backoff_doubles_up_to_the_cap(receiver, owed, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    settings.WEBHOOK_RETRY_MAX_SECONDS = 40
    receiver.statuses = [503] * 5
    now = datetime.now(UTC)
    delays = []
    for _ in range(5):
        webhook_deliveries_send_due(now=now)
        row = WebhookDelivery.objects.get()
        delays.append((row.next_attempt_at - now).total_seconds())
        now = row.next_attempt_at

    # base * 2**(n-1), capped, jittered down by at most a fifth.
    for delay, expected in zip(delays, [10, 20, 40, 40, 40], strict=True):
        assert 0.8 * expected <= delay <= expected


def test_retries_cover_the_budget_then_the_delivery_fails(receiver, owed, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 3600
    settings.WEBHOOK_RETRY_MAX_SECONDS = 6 * 3600
    delivery, _ = owed
    receiver.statuses = [500] * 100
    now = datetime.now(UTC)
    while True:
        webhook_deliveries_send_due(now=now)
        delivery.refresh_from_db()
        if delivery.state != "pending":
            break
        now = delivery.next_attempt_at

    assert delivery.state == "failed"
    assert receiver.requests and len(receiver.requests) == delivery.attempts
    # The last attempt is made at the end of the budget (24 h after the event was owed).
    assert now == delivery.give_up_at
    assert delivery.give_up_at - delivery.created_at >= timedelta(hours=24) - timedelta(seconds=1)


def test_a_timeout_is_retried(owed, settings):
    # A receiver that accepts the connection but never answers.
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    delivery, _ = owed
    WebhookEndpoint.objects.update(url=f"http://127.0.0.1:{listener.getsockname()[1]}/hooks")
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.2
    try:
        started = time.monotonic()
        webhook_deliveries_send_due(now=datetime.now(UTC))
        assert time.monotonic() - started < 5
    finally:
        listener.close()

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "Timeout" in delivery.last_error


def test_production_checks_the_address_again_before_sending(receiver, owed, settings):
    settings.ENVIRONMENT = "production"

    webhook_deliveries_send_due(now=datetime.now(UTC))

    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending" and delivery.last_error.startswith("refused:")


def test_events_go_only_to_the_notifications_sender_and_its_subscribed_events(endpoint, receiver):
    mine = NotificationRequestFactory(sender=SENDER)
    theirs = NotificationRequestFactory(sender="key:someone-else")
    WebhookEndpoint.objects.create(sender=SENDER, url=receiver.url, events=["failed"], secret="s2")
    events = [final_event(mine, "delivered"), final_event(theirs, "delivered")]

    webhook_deliveries_create(events=events)
    webhook_deliveries_create(events=events)  # read twice: owed once

    assert list(WebhookDelivery.objects.values_list("endpoint_id", "notification_id", "event")) == [
        (endpoint.id, mine.id, "delivered")
    ]


def test_an_endpoint_gets_no_event_received_before_it_existed(endpoint):
    notification = NotificationRequestFactory(sender=SENDER)

    webhook_deliveries_create(events=[final_event(notification, received_at=endpoint.created_at - timedelta(1))])

    assert not WebhookDelivery.objects.exists()


def test_an_event_for_a_notification_this_gateway_does_not_know_is_ignored(endpoint):
    stranger = NotificationRequestFactory.build(sender=SENDER, id=uuid.uuid4())

    assert webhook_deliveries_create(events=[final_event(stranger)]) == 0


def test_a_delivery_in_flight_is_leased_and_due_again_if_its_dispatcher_dies(owed, settings):
    from webhooks.services import _claim_due

    settings.WEBHOOK_TIMEOUT_SECONDS = 5
    settings.WEBHOOK_LEASE_MARGIN_SECONDS = 30
    delivery, _ = owed
    now = datetime.now(UTC)

    # given one dispatcher took it and died before recording an outcome
    assert [row.id for row in _claim_due(now=now, limit=10)] == [delivery.id]

    # then another dispatcher leaves it alone during the lease, and takes it after
    assert _claim_due(now=now + timedelta(seconds=30), limit=10) == []
    assert [row.id for row in _claim_due(now=now + timedelta(seconds=36), limit=10)] == [delivery.id]
