"""The operators' message log pages: search by notification id, request_id, user id or email,
and a notification's timeline across the services (each part from its owner's API)."""

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from platform_admin.tests.factories import DeadLetterFactory

pytestmark = pytest.mark.django_db

NOTIFICATION_ID = str(uuid.uuid4())
USER_ID = str(uuid.uuid4())
ROW = {
    "notification_id": NOTIFICATION_ID,
    "sender": "key:crm",
    "request_id": "order-7",
    "notification_type": "email",
    "user_id": USER_ID,
    "template_code": "welcome",
    "language": "en",
    "priority": 5,
    "status": "pending",
    "trace_id": "t",
    "created_at": "2026-12-01T10:00:00Z",
    "send_at": None,
    "cancelled_at": None,
    "quiet_hours_deferred": False,
    "published_at": "2026-12-01T10:00:01Z",
    "outbox_attempts": 1,
    "outbox_last_error": "",
}


@pytest.fixture
def gateway_log(platform):
    """The gateway's message-log search: answers ROW to a matching filter, [] otherwise."""
    seen = []

    def answer(request):
        params = parse_qs(urlsplit(request["full_path"]).query)
        seen.append(params)
        match = (
            params.get("notification_id") == [NOTIFICATION_ID]
            or params.get("request_id") == ["order-7"]
            or USER_ID in params.get("user_id", [])
        )
        body = {"success": True, "data": [ROW] if match else [], "error": None, "message": "", "meta": None}
        return 200, body

    platform.route("GET", "/api/v1/message-log/", answer)
    return seen


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        (NOTIFICATION_ID, "notification_id"),
        ("order-7", "request_id"),
        (USER_ID, "user_id"),
        ("ADA@example.com", "email"),
    ],
)
def test_search_finds_the_notification_by_each_kind_of_query(staff_browser, platform, gateway_log, query, kind):
    platform.reply("GET", "/api/v1/users/", 200, [{"id": USER_ID, "email": "ada@example.com"}])

    response = staff_browser.get(reverse("admin:platform_message_log"), {"q": query})

    page = response.content.decode()
    assert response.status_code == 200
    assert f"Read as <strong>{kind}</strong>" in page
    assert reverse("admin:platform_message_timeline", args=[NOTIFICATION_ID]) in page


def test_search_with_no_match_says_so(staff_browser, platform, gateway_log):
    page = staff_browser.get(reverse("admin:platform_message_log"), {"q": "nothing-like-this"}).content.decode()

    assert "No notification found." in page


def test_search_shows_a_gateway_outage_instead_of_failing(staff_browser, settings, platform):
    settings.GATEWAY_SERVICE_URL = "http://127.0.0.1:1"

    response = staff_browser.get(reverse("admin:platform_message_log"), {"q": "order-7"})

    assert response.status_code == 200
    assert 'class="errornote"' in response.content.decode()


def test_timeline_orders_every_service_part_in_time(staff_browser, platform, gateway_log):
    platform.reply(
        "GET",
        f"/api/v1/emails/{NOTIFICATION_ID}/",
        200,
        {
            "status": "delivered",
            "attempts": 2,
            "recipient": "ada@example.com",
            "history": [
                {
                    "attempt_number": 1,
                    "outcome": "transient",
                    "smtp_code": 451,
                    "error": "try later",
                    "created_at": "2026-12-01T10:00:02Z",
                },
                {
                    "attempt_number": 2,
                    "outcome": "sent",
                    "smtp_code": 250,
                    "error": "",
                    "created_at": "2026-12-01T10:00:09Z",
                },
            ],
        },
    )
    platform.reply(
        "GET",
        f"/api/v1/notifications/{NOTIFICATION_ID}/status/",
        200,
        {
            "status": "delivered",
            "error": None,
            "history": [
                {"status": "pending", "timestamp": "2026-12-01T10:00:03+00:00", "error": "try later"},
                {"status": "delivered", "timestamp": "2026-12-01T10:00:10+00:00", "error": None},
            ],
        },
    )
    DeadLetterFactory(notification_id=NOTIFICATION_ID, reason="smtp down")

    response = staff_browser.get(reverse("admin:platform_message_timeline", args=[NOTIFICATION_ID]))

    page = response.content.decode()
    assert response.status_code == 200
    order = [
        "accepted",
        "published (outbox)",
        "attempt 1: transient",
        "status report: pending",
        "attempt 2: sent",
        "status report: delivered",
    ]
    positions = [page.index(label) for label in order]
    assert positions == sorted(positions)
    assert "451 try later" in page and "250" in page
    assert "dead letter" in page and "smtp down" in page
    assert '<td id="final-status">delivered</td>' in page


def test_timeline_of_an_unknown_notification_and_a_failing_service(staff_browser, platform, gateway_log):
    platform.reply("GET", f"/api/v1/notifications/{uuid.UUID(int=1)}/status/", 503, None, error="unavailable")

    response = staff_browser.get(reverse("admin:platform_message_timeline", args=[uuid.UUID(int=1)]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "The gateway has no notification" in page
    assert "user_service:" in page


def test_the_pages_need_a_staff_login(client):
    response = client.get(reverse("admin:platform_message_log"))

    assert response.status_code == 302 and "login" in response["Location"]


def test_timeline_shows_each_webhook_post_with_the_receivers_answer(staff_browser, platform, gateway_log):
    platform.reply(
        "GET",
        "/api/v1/webhooks/deliveries/",
        200,
        [
            {
                "event": "delivered",
                "url": "https://hooks.example.com/n",
                "state": "delivered",
                "created_at": "2026-12-01T10:00:11Z",
                "history": [
                    {"at": "2026-12-01T10:00:12+00:00", "status_code": 500, "error": "server error"},
                    {"at": "2026-12-01T10:00:20+00:00", "status_code": 200, "error": None},
                ],
            }
        ],
    )

    page = staff_browser.get(reverse("admin:platform_message_timeline", args=[NOTIFICATION_ID])).content.decode()

    assert "webhook delivered to https://hooks.example.com/n" in page
    assert page.index("500 server error") < page.index("<td>200</td>")
    (request,) = platform.requests_to("GET", "/api/v1/webhooks/deliveries/")
    assert f"notification_id={NOTIFICATION_ID}" in request["full_path"]
