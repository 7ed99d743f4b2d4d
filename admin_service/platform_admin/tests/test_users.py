"""Users through the user service's internal endpoints (stood in by a stub)."""

import uuid

import pytest

from notification_devtools.testing import assert_envelope
from platform_admin.constants import AuditAction
from platform_admin.models import AuditEntry

pytestmark = pytest.mark.django_db

USER_ID = str(uuid.uuid4())
USER = {
    "id": USER_ID,
    "name": "Grace",
    "email": "grace@example.com",
    "is_active": True,
    "preferences": {"email": True, "push": False},
    "devices": [{"id": str(uuid.uuid4()), "token": "tok-1", "platform": "android", "active": True}],
    "created_at": "2026-11-24T00:00:00+00:00",
}
NOTIFICATIONS = [{"notification_id": str(uuid.uuid4()), "channel": "email", "status": "delivered"}]
PAGE_META = {"total": 41, "limit": 20, "page": 2, "total_pages": 3, "has_next": True, "has_previous": True}


def _page(request):
    return 200, {"success": True, "data": [USER], "error": None, "message": "", "meta": PAGE_META}


def test_list_passes_search_and_page_on_and_keeps_the_meta(admin_api, platform):
    platform.route("GET", "/api/v1/users/", _page)

    body = assert_envelope(admin_api.get("/api/v1/admin/users/", {"search": "grace", "page": 2}), status=200)

    assert body["data"] == [USER] and body["meta"] == PAGE_META
    call = platform.requests_to("GET", "/api/v1/users/")[0]
    assert "search=grace" in call["full_path"] and "page=2" in call["full_path"] and "limit=20" in call["full_path"]
    assert call["headers"]["X-API-Key"]


@pytest.mark.parametrize("query, field", [({"page": 0}, "page"), ({"limit": 500}, "limit"), ({"page": "x"}, "page")])
def test_list_refuses_bad_paging_naming_the_field(admin_api, platform, query, field):
    body = assert_envelope(admin_api.get("/api/v1/admin/users/", query), status=400, error="validation_error")

    assert field in body["data"]


def test_detail_has_devices_and_recent_notifications(admin_api, platform):
    platform.reply("GET", f"/api/v1/users/{USER_ID}/", 200, USER)
    platform.reply("GET", f"/api/v1/users/{USER_ID}/notifications/", 200, NOTIFICATIONS)

    data = assert_envelope(admin_api.get(f"/api/v1/admin/users/{USER_ID}/"), status=200)["data"]

    assert data["email"] == "grace@example.com"
    assert data["devices"] == USER["devices"]
    assert data["recent_notifications"] == NOTIFICATIONS


def test_unknown_user_is_404(admin_api, platform):
    platform.reply("GET", f"/api/v1/users/{USER_ID}/", 404, error="not_found", message="User not found.")

    assert_envelope(admin_api.get(f"/api/v1/admin/users/{USER_ID}/"), status=404, error="not_found")


def test_a_malformed_user_id_is_404_without_asking(admin_api, platform):
    assert_envelope(admin_api.get("/api/v1/admin/users/nope/"), status=404, error="not_found")
    assert platform.requests == []


def test_user_service_down_is_503(admin_api, platform):
    platform.fail_next(10)

    assert_envelope(admin_api.get("/api/v1/admin/users/"), status=503, error="dependency_unavailable")


def test_a_refused_service_key_is_a_502_not_the_admins_fault(admin_api, platform):
    platform.reply("GET", "/api/v1/users/", 403, error="permission_denied")

    assert_envelope(admin_api.get("/api/v1/admin/users/"), status=502, error="upstream_error")


@pytest.mark.parametrize(
    "action, audit",
    [("deactivate", AuditAction.USER_DEACTIVATED), ("reactivate", AuditAction.USER_REACTIVATED)],
)
def test_deactivate_and_reactivate_go_to_the_user_service_and_are_audited(admin_api, platform, action, audit):
    platform.reply("POST", f"/api/v1/users/{USER_ID}/{action}/", 200, {**USER, "is_active": action == "reactivate"})

    body = assert_envelope(admin_api.post(f"/api/v1/admin/users/{USER_ID}/{action}/"), status=200)

    assert body["data"]["is_active"] is (action == "reactivate")
    assert len(platform.requests_to("POST", f"/api/v1/users/{USER_ID}/{action}/")) == 1
    entry = AuditEntry.objects.get(action=audit)
    assert (entry.actor, entry.target) == ("ada", f"user:{USER_ID}")


def test_a_failed_deactivation_writes_no_audit_row(admin_api, platform):
    platform.reply("POST", f"/api/v1/users/{USER_ID}/deactivate/", 404, error="not_found")

    assert_envelope(admin_api.post(f"/api/v1/admin/users/{USER_ID}/deactivate/"), status=404)
    assert not AuditEntry.objects.exists()
