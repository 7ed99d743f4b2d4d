"""Parked outbox rows of the gateway, listed and replayed (once, audited) from the admin service.

The gateway is a loopback stub answering its contract (docs/api_gateway.md, "Parked rows");
the gateway's own tests cover the rows themselves."""

import uuid

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from notification_devtools.testing import assert_envelope
from platform_admin.constants import AuditAction
from platform_admin.models import AuditEntry

pytestmark = pytest.mark.django_db

PARKED = "/api/v1/admin/outbox/parked/"
NOTIFICATION_ID = str(uuid.uuid4())
GATEWAY_PARKED = "/api/v1/outbox/parked/"
GATEWAY_REPLAY = f"/api/v1/outbox/{NOTIFICATION_ID}/replay/"
ROW = {
    "id": 7,
    "notification_id": NOTIFICATION_ID,
    "notification_type": "email",
    "routing_key": "no.such.queue",
    "status": "parked",
    "failed_attempts": 8,
    "last_error": "unroutable: exchange='notifications.direct' routing_key='no.such.queue'",
    "replayed_at": None,
    "replay_count": 0,
}
META = {"total": 1, "limit": 20, "page": 1, "total_pages": 1, "has_next": False, "has_previous": False}


def replay_url(notification_id=NOTIFICATION_ID) -> str:
    return f"/api/v1/admin/outbox/{notification_id}/replay/"


@pytest.fixture
def gateway(platform):
    body = {"success": True, "data": [ROW], "error": None, "message": "", "meta": META}
    platform.route("GET", GATEWAY_PARKED, lambda request: (200, body))
    platform.reply("POST", GATEWAY_REPLAY, 200, {**ROW, "status": "pending", "replay_count": 1})
    return platform


def test_parked_rows_are_listed_from_the_gateway_with_its_pages(admin_api, gateway):
    body = assert_envelope(admin_api.get(PARKED, {"page": 1, "limit": 20}), status=200)

    assert body["data"] == [ROW]
    assert body["meta"] == META
    [call] = gateway.requests_to("GET", GATEWAY_PARKED)
    assert call["headers"]["X-API-Key"] == django_settings.NOTIFICATION_COMMON["SERVICE_API_KEY"]
    assert "limit=20" in call["full_path"]


def test_a_replay_is_asked_of_the_gateway_and_audited(admin_api, gateway):
    response = admin_api.post(replay_url())

    data = assert_envelope(response, status=200)["data"]
    assert data["status"] == "pending"
    assert len(gateway.requests_to("POST", GATEWAY_REPLAY)) == 1
    entry = AuditEntry.objects.get(action=AuditAction.OUTBOX_REPLAYED)
    assert (entry.actor, entry.target) == ("ada", f"outbox:{NOTIFICATION_ID}")
    assert entry.details["routing_key"] == "no.such.queue"
    assert entry.details["replay_count"] == 1


def test_a_second_replay_refused_by_the_gateway_is_a_409_and_not_audited(admin_api, gateway):
    gateway.reply("POST", GATEWAY_REPLAY, 409, None, error="already_replayed", message="already replayed")

    response = admin_api.post(replay_url())

    assert_envelope(response, status=409, error="already_replayed")
    assert not AuditEntry.objects.filter(action=AuditAction.OUTBOX_REPLAYED).exists()


def test_a_malformed_id_is_a_404_without_asking_the_gateway(admin_api, gateway):
    assert_envelope(admin_api.post(replay_url("not-a-uuid")), status=404, error="not_found")

    assert gateway.requests_to("POST", "/api/v1/outbox/not-a-uuid/replay/") == []


def test_with_the_gateway_down_the_list_is_a_503(admin_api, settings):
    settings.GATEWAY_SERVICE_URL = "http://127.0.0.1:9"
    from notification_common.service_clients import reset_clients

    reset_clients()

    assert_envelope(admin_api.get(PARKED), status=503, error="dependency_unavailable")


def test_only_admins_see_or_replay_parked_rows(gateway):
    from rest_framework.test import APIClient

    client = APIClient()

    assert client.get(PARKED).status_code == 401
    assert client.post(replay_url()).status_code == 401
    assert gateway.requests_to("POST", GATEWAY_REPLAY) == []


def test_the_admin_page_lists_parked_rows_and_replays_one(staff_browser, gateway):
    page = staff_browser.get(reverse("admin:platform_outbox"))
    assert page.status_code == 200
    assert NOTIFICATION_ID in page.content.decode()

    response = staff_browser.post(reverse("admin:platform_outbox"), {"notification_id": NOTIFICATION_ID}, follow=True)

    assert response.status_code == 200
    assert AuditEntry.objects.filter(action=AuditAction.OUTBOX_REPLAYED, target=f"outbox:{NOTIFICATION_ID}").exists()


def test_the_dashboard_counts_parked_rows(admin_api, platform, rabbit_channel):
    platform.reply("GET", "/api/v1/health/", 200, {"status": "up", "checks": {}})
    platform.reply(
        "GET",
        "/api/v1/notifications/stats/",
        200,
        {"outbox": {"backlog": 0, "oldest_age_seconds": 0, "parked": 2}, "accepted": {}},
    )

    data = assert_envelope(admin_api.get("/api/v1/admin/dashboard/"), status=200)["data"]

    assert data["outbox"]["parked"] == 2
    assert data["dead_letters"]["parked_in_queue"] == 0
    assert data["dead_letters"]["stored"]["stored_reduced"] == 0
