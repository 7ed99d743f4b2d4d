"""The audit log: listed newest first, paginated, filtered."""

import pytest

from notification_devtools.testing import assert_envelope
from platform_admin.constants import AuditAction
from platform_admin.services import audit_record

pytestmark = pytest.mark.django_db

AUDIT = "/api/v1/admin/audit/"


@pytest.fixture
def entries(admin_user):
    audit_record(actor="ada", action=AuditAction.API_KEY_CREATED, target="api_key:1", ip="10.0.0.1")
    audit_record(actor="bob", action=AuditAction.USER_DEACTIVATED, target="user:42")
    audit_record(actor="ada", action=AuditAction.DEAD_LETTER_REPLAYED, target="dead_letter:7", details={"n": 1})


def test_audit_is_listed_newest_first_with_meta(admin_api, entries):
    body = assert_envelope(admin_api.get(AUDIT, {"limit": 2}), status=200)

    assert [e["action"] for e in body["data"]] == [AuditAction.DEAD_LETTER_REPLAYED, AuditAction.USER_DEACTIVATED]
    assert body["meta"]["total"] == 3 and body["meta"]["has_next"] is True
    assert set(body["data"][0]) == {"id", "actor", "action", "target", "details", "ip", "created_at"}


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"actor": "ADA"}, 2),
        ({"action": AuditAction.USER_DEACTIVATED}, 1),
        ({"target": "user:"}, 1),
        ({"since": "2000-01-01T00:00:00Z"}, 3),
        ({"until": "2000-01-01T00:00:00Z"}, 0),
    ],
)
def test_audit_filters(admin_api, entries, query, expected):
    assert admin_api.get(AUDIT, query).json()["meta"]["total"] == expected


@pytest.mark.parametrize("query, field", [({"action": "deleted.everything"}, "action"), ({"since": "soon"}, "since")])
def test_audit_refuses_bad_filters_naming_them(admin_api, query, field):
    assert field in assert_envelope(admin_api.get(AUDIT, query), status=400)["data"]


def test_audit_needs_an_admin_token(api_client):
    assert_envelope(api_client.get(AUDIT), status=401)
