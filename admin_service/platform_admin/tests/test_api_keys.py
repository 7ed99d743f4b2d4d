"""API keys: created once, stored hashed, listed without the key, revoked, rotated, checked."""

import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from notification_common.api_keys import cache_key
from notification_devtools.testing import assert_envelope
from platform_admin.constants import AuditAction
from platform_admin.models import ApiKey, AuditEntry
from platform_admin.tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/admin/api-keys/"
VERIFY = "/api/v1/admin/api-keys/verify/"


def _create(admin_api, **body):
    body = {"name": "billing", "scopes": ["notifications:send"], **body}
    return admin_api.post(KEYS, body)


def test_created_key_is_returned_once_and_stored_only_as_a_hash(admin_api):
    data = assert_envelope(_create(admin_api), status=201)["data"]

    raw = data["key"]
    stored = ApiKey.objects.get(pk=data["id"])
    assert raw.startswith("nk_") and len(raw) > 40
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert stored.prefix == raw[:8] == data["prefix"]
    assert raw not in str(ApiKey.objects.filter(pk=stored.pk).values().get())


def test_list_and_detail_never_show_the_key(admin_api):
    created = _create(admin_api).json()["data"]

    listed = assert_envelope(admin_api.get(KEYS), status=200)
    shown = assert_envelope(admin_api.get(f"{KEYS}{created['id']}/"), status=200)["data"]

    assert all("key" not in item for item in listed["data"])
    assert "key" not in shown and created["key"] not in str(listed) + str(shown)
    assert shown["prefix"] == created["prefix"]


def test_list_is_paginated_with_meta(admin_api):
    ApiKeyFactory.create_batch(3)

    body = assert_envelope(admin_api.get(KEYS, {"limit": 2, "page": 2}), status=200)

    total = ApiKey.objects.count()
    assert body["meta"] == {
        "total": total,
        "limit": 2,
        "page": 2,
        "total_pages": (total + 1) // 2,
        "has_next": total > 4,
        "has_previous": True,
    }


def test_list_filters_revoked_keys(admin_api):
    ApiKeyFactory(revoked_at=timezone.now(), name="old")

    body = assert_envelope(admin_api.get(KEYS, {"revoked": "true"}), status=200)

    assert [item["name"] for item in body["data"]] == ["old"]
    assert body["data"][0]["status"] == "revoked"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["root"]}, "scopes"),
        ({"scopes": ["internal", "internal"]}, "scopes"),
        ({"scopes": "internal"}, "scopes"),
        ({"expires_at": "yesterday"}, "expires_at"),
        ({"expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
    ],
)
def test_create_refuses_bad_input_naming_the_field(admin_api, body, field):
    body = assert_envelope(_create(admin_api, **body), status=400, error="validation_error")

    assert field in body["data"]


def test_creation_is_audited_without_the_key(admin_api):
    raw = _create(admin_api, scopes=["internal", "templates:write"]).json()["data"]["key"]

    entry = AuditEntry.objects.get(action=AuditAction.API_KEY_CREATED)
    assert entry.actor == "ada"
    assert entry.details["scopes"] == ["internal", "templates:write"]
    assert raw not in str(entry.details)


def test_revoke_marks_the_key_caches_the_revocation_and_is_audited(
    admin_api, redis_client, django_capture_on_commit_callbacks
):
    created = _create(admin_api).json()["data"]
    redis_client.set(cache_key(created["key"]), '{"valid": true}')

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(f"{KEYS}{created['id']}/revoke/")

    assert assert_envelope(response, status=200)["data"]["status"] == "revoked"
    # The cached verdict becomes a long-lived refusal, so the key stays refused through an
    # admin-service outage too.
    assert json.loads(redis_client.get(cache_key(created["key"]))) == {"valid": False, "reason": "revoked"}
    assert redis_client.ttl(cache_key(created["key"])) > 24 * 3600
    assert AuditEntry.objects.filter(action=AuditAction.API_KEY_REVOKED, target=f"api_key:{created['id']}").exists()


def test_revoking_twice_changes_nothing_the_second_time(admin_api):
    key_id = _create(admin_api).json()["data"]["id"]
    first = admin_api.post(f"{KEYS}{key_id}/revoke/").json()["data"]["revoked_at"]

    second = assert_envelope(admin_api.post(f"{KEYS}{key_id}/revoke/"), status=200)["data"]["revoked_at"]

    assert first == second
    assert AuditEntry.objects.filter(action=AuditAction.API_KEY_REVOKED).count() == 1


@pytest.mark.parametrize("key_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_unknown_key_is_404(admin_api, key_id):
    assert_envelope(admin_api.get(f"{KEYS}{key_id}/"), status=404, error="not_found")
    assert_envelope(admin_api.post(f"{KEYS}{key_id}/revoke/"), status=404, error="not_found")


def test_rotate_returns_a_new_key_with_the_same_scopes_and_revokes_the_old(admin_api):
    old = _create(admin_api, scopes=["internal"]).json()["data"]

    new = assert_envelope(admin_api.post(f"{KEYS}{old['id']}/rotate/"), status=201)["data"]

    assert new["key"] != old["key"] and new["scopes"] == ["internal"] and new["name"] == old["name"]
    assert ApiKey.objects.get(pk=old["id"]).revoked_at is not None
    assert AuditEntry.objects.filter(action=AuditAction.API_KEY_ROTATED).exists()


def test_a_revoked_key_cannot_be_rotated(admin_api):
    key = ApiKeyFactory(revoked_at=timezone.now())

    assert_envelope(admin_api.post(f"{KEYS}{key.pk}/rotate/"), status=409, error="api_key_revoked")


# -- the key check other services call -------------------------------------------------------
def test_verify_answers_the_scopes_of_a_valid_key(api_client, admin_api, internal_key):
    created = _create(admin_api, scopes=["notifications:send", "templates:write"]).json()["data"]
    api_client.credentials(HTTP_X_API_KEY=internal_key)

    data = assert_envelope(api_client.post(VERIFY, {"key": created["key"]}), status=200)["data"]

    assert data == {
        "id": created["id"],
        "name": "billing",
        "scopes": ["notifications:send", "templates:write"],
        "expires_at": None,
    }


@pytest.mark.parametrize("state", ["revoked", "expired", "unknown"])
def test_verify_refuses_revoked_expired_and_unknown_keys(api_client, internal_key, state):
    raw = f"nk_{state}_key_for_the_test_of_verify"
    if state == "revoked":
        ApiKeyFactory(raw=raw, revoked_at=timezone.now())
    elif state == "expired":
        ApiKeyFactory(raw=raw, expires_at=timezone.now() - timedelta(seconds=1))
    api_client.credentials(HTTP_X_API_KEY=internal_key)

    assert_envelope(api_client.post(VERIFY, {"key": raw}), status=404, error="invalid_api_key")


def test_verify_without_a_key_in_the_body_names_the_field(api_client, internal_key):
    api_client.credentials(HTTP_X_API_KEY=internal_key)

    body = assert_envelope(api_client.post(VERIFY, {}), status=400, error="validation_error")

    assert "key" in body["data"]


def test_verify_needs_an_internal_key(api_client, sender_key):
    raw = "nk_some_key_somebody_wants_checked_000"
    ApiKeyFactory(raw=raw)

    assert_envelope(api_client.post(VERIFY, {"key": raw}), status=401)
    api_client.credentials(HTTP_X_API_KEY=sender_key)
    assert_envelope(api_client.post(VERIFY, {"key": raw}), status=403, error="permission_denied")


def test_verify_refuses_a_created_key_without_the_internal_scope_as_caller(api_client, admin_api):
    sender = _create(admin_api, scopes=["notifications:send"]).json()["data"]["key"]
    internal = _create(admin_api, scopes=["internal"]).json()["data"]["key"]

    api_client.credentials(HTTP_X_API_KEY=sender)
    assert_envelope(api_client.post(VERIFY, {"key": internal}), status=403)
    api_client.credentials(HTTP_X_API_KEY=internal)
    assert_envelope(api_client.post(VERIFY, {"key": sender}), status=200)


def test_admin_token_cannot_call_verify(admin_api):
    assert_envelope(admin_api.post(VERIFY, {"key": "whatever"}), status=401)
