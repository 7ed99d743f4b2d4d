"""The admin service's schema tells the truth (notification_devtools/testing/schema_contract.py)."""

import uuid

import pytest

from notification_common.pagination import page_meta
from notification_devtools.testing.schema_contract import *  # noqa: F403
from notification_devtools.testing.schema_contract import other_services_stubbed
from platform_admin.tests.factories import ADMIN_PASSWORD, DeadLetterFactory
from platform_admin.tokens import admin_tokens_issue

# The lists the admin API passes on: the other services answer an empty page.
UPSTREAM_LISTS = ("/api/v1/users/", "/api/v1/templates/", "/api/v1/outbox/parked/")


@pytest.fixture
def schema_fuzz_headers(admin_user) -> list[dict]:
    return [{"Authorization": f"Bearer {admin_tokens_issue(user=admin_user)['access']}"}]


@pytest.fixture
def other_services(stub_server):
    def empty_page(request):
        return 200, {
            "success": True,
            "data": [],
            "error": None,
            "message": "",
            "meta": page_meta(total=0, page=1, limit=20),
        }

    for path in UPSTREAM_LISTS:
        stub_server.route("GET", path, empty_page)
    with other_services_stubbed(stub_server) as stub:
        yield stub


# -- real answers with real data, strictly validated (SchemaValidator.assert_conforms) --
@pytest.mark.django_db
def test_login_keys_dead_letters_and_audit_conform(schema_validator, api_client, admin_user, rabbit_channel):
    conforms = schema_validator.assert_conforms
    credentials = {"username": admin_user.username, "password": ADMIN_PASSWORD}

    tokens = conforms(api_client.post("/api/v1/admin/login/", credentials, format="json"), status=200)
    conforms(api_client.post("/api/v1/admin/login/", {**credentials, "password": "wrong"}, format="json"))  # 401
    conforms(api_client.post("/api/v1/admin/token/refresh/", {"refresh": tokens["data"]["refresh"]}), status=200)
    conforms(api_client.post("/api/v1/admin/token/refresh/", {"refresh": "garbage"}))  # 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['data']['access']}")
    conforms(api_client.get("/api/v1/admin/me/"), status=200)

    keys = "/api/v1/admin/api-keys/"
    created = conforms(api_client.post(keys, {"name": "billing", "scopes": ["notifications:send"]}), status=201)
    key_id = created["data"]["id"]
    conforms(api_client.post(keys, {"name": "bad\x00name", "scopes": []}, format="json"), status=400)
    listed = conforms(api_client.get(keys), status=200)  # null expires_at, revoked_at, last_used_at
    assert listed["data"][0]["revoked_at"] is None
    conforms(api_client.get(keys, {"revoked": "false", "scope": "notifications:send", "search": "bill"}), status=200)
    conforms(api_client.get(f"{keys}{key_id}/"), status=200)
    conforms(api_client.get(f"{keys}{uuid.uuid4()}/"), status=404)
    conforms(api_client.post(f"{keys}{key_id}/rotate/"), status=201)
    conforms(api_client.post(f"{keys}{key_id}/revoke/"), status=200)
    conforms(api_client.post(f"{keys}{key_id}/rotate/"), status=409)

    dead_letter = DeadLetterFactory()
    conforms(api_client.get("/api/v1/admin/dead-letters/"), status=200)  # null replayed_at
    conforms(api_client.get(f"/api/v1/admin/dead-letters/{dead_letter.id}/"), status=200)
    conforms(api_client.post(f"/api/v1/admin/dead-letters/{dead_letter.id}/replay/"), status=200)
    conforms(api_client.post(f"/api/v1/admin/dead-letters/{dead_letter.id}/replay/"), status=409)
    conforms(api_client.post("/api/v1/admin/dead-letters/replay/", {"ids": [str(dead_letter.id)]}, format="json"))
    conforms(api_client.get("/api/v1/admin/audit/"), status=200)
    conforms(api_client.get("/api/v1/admin/audit/", {"since": "yesterday"}), status=400)


@pytest.mark.django_db
def test_key_verification_conforms(schema_validator, api_client, internal_key):
    conforms = schema_validator.assert_conforms
    api_client.credentials(HTTP_X_API_KEY=internal_key)

    conforms(api_client.post("/api/v1/admin/api-keys/verify/", {"key": internal_key}), status=200)
    conforms(api_client.post("/api/v1/admin/api-keys/verify/", {"key": "unknown"}), status=404)
