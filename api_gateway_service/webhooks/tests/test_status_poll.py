"""Reading final statuses from the user service's feed after a cursor (webhook_status_poll),
and the dispatcher command that runs it."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from notifications.tests.factories import NotificationRequestFactory

from notification_common.service_clients import reset_clients
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookStatusCursor
from webhooks.services import STATUS_EVENTS_PATH, webhook_status_poll

pytestmark = pytest.mark.django_db

SENDER = "key:bootstrap:test"


@pytest.fixture
def feed(stub_server, settings):
    """The user service's status feed, answering whatever ``feed.events`` holds after the cursor."""
    settings.USER_SERVICE_URL = stub_server.url
    reset_clients()

    class Feed:
        events: list[dict] = []

        def answer(self, request):
            from urllib.parse import parse_qs, urlsplit

            query = {k: v[0] for k, v in parse_qs(urlsplit(request["full_path"]).query).items()}
            after = query.get("after")
            after_id = int(query.get("after_id", 0))
            limit = int(query["limit"])
            rest = [
                e
                for e in self.events
                if after is None or (e["received_at"], e["id"]) > (after.replace("+00:00", "Z"), after_id)
            ]
            return 200, {"success": True, "data": rest[:limit], "error": None, "message": "", "meta": None}

    stub = Feed()
    stub_server.route("GET", STATUS_EVENTS_PATH, stub.answer)
    yield stub
    reset_clients()


def feed_event(event_id, notification, status="delivered", seconds=0):
    received = datetime(2026, 12, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=seconds)
    return {
        "id": event_id,
        "notification_id": str(notification.id),
        "channel": "email",
        "status": status,
        "error": "" if status == "delivered" else "550 mailbox unavailable",
        "timestamp": received.isoformat().replace("+00:00", "Z"),
        "received_at": received.isoformat().replace("+00:00", "Z"),
    }


@pytest.fixture
def endpoint():
    endpoint = WebhookEndpoint.objects.create(sender=SENDER, url="http://127.0.0.1:9/", events=["delivered", "failed"])
    WebhookEndpoint.objects.filter(id=endpoint.id).update(created_at=datetime(2026, 12, 1, tzinfo=UTC))
    return endpoint


def test_events_after_the_cursor_become_deliveries_once(feed, endpoint, stub_server, settings):
    settings.WEBHOOK_STATUS_PAGE_SIZE = 2
    notifications = [NotificationRequestFactory(sender=SENDER) for _ in range(3)]
    feed.events = [feed_event(i + 1, n, "failed" if i == 2 else "delivered", i) for i, n in enumerate(notifications)]

    assert webhook_status_poll() == 2
    assert webhook_status_poll() == 1
    assert webhook_status_poll() == 0

    owed = WebhookDelivery.objects.order_by("payload__occurred_at")
    assert [(d.notification_id, d.event) for d in owed] == [
        (notifications[0].id, "delivered"),
        (notifications[1].id, "delivered"),
        (notifications[2].id, "failed"),
    ]
    assert owed[2].payload["error"] == "550 mailbox unavailable"
    cursor = WebhookStatusCursor.objects.get()
    assert cursor.event_id == 3
    last = stub_server.requests_to("GET", STATUS_EVENTS_PATH)[-1]["full_path"]
    assert "after_id=3" in last and "settle_seconds=" in last


def test_the_cursor_stays_when_the_user_service_fails(feed, endpoint, stub_server):
    feed.events = [feed_event(1, NotificationRequestFactory(sender=SENDER))]
    stub_server.fail_next(10, status=503)

    with pytest.raises(Exception, match="user_service"):
        webhook_status_poll()

    assert not WebhookStatusCursor.objects.filter(event_id__gt=0).exists()
    stub_server._failures.clear()
    reset_clients()  # the user service is back (and its circuit closed)
    assert webhook_status_poll() == 1
    assert WebhookDelivery.objects.count() == 1


def test_the_command_reads_and_sends_once(feed, receiver):
    endpoint = WebhookEndpoint.objects.create(sender=SENDER, url=receiver.url, events=["delivered"], secret="s")
    WebhookEndpoint.objects.filter(id=endpoint.id).update(created_at=datetime(2026, 12, 1, tzinfo=UTC))
    feed.events = [feed_event(1, NotificationRequestFactory(sender=SENDER))]
    out = StringIO()

    call_command("dispatch_webhooks", "--once", stdout=out)

    assert "read 1 status event(s), made 1 delivery attempt(s)" in out.getvalue()
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().state == "delivered"


@pytest.mark.parametrize("interval", ["0", "-1", "soon"])
def test_the_command_refuses_a_bad_interval(interval):
    with pytest.raises(CommandError, match="--interval"):
        call_command("dispatch_webhooks", "--once", "--interval", interval, stdout=StringIO())
