"""Bootstrap keys from the environment live in the key table; last use is kept cheaply."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from notification_common.api_keys import KeyRefused, hash_api_key
from notification_common.conf import common_settings
from notification_devtools.testing import assert_envelope
from platform_admin.constants import REDIS_API_KEY_LAST_USED
from platform_admin.models import ApiKey
from platform_admin.services import api_key_check, api_key_register_bootstrap, api_key_verify
from platform_admin.tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


def _bootstrap_row(raw: str) -> ApiKey:
    return ApiKey.objects.get(key_hash=hash_api_key(raw))


def test_bootstrap_keys_are_in_the_table_after_migrate(internal_key, sender_key):
    internal, sender = _bootstrap_row(internal_key), _bootstrap_row(sender_key)

    assert internal.is_bootstrap and internal.scopes == ["internal"]
    assert sender.is_bootstrap and sender.scopes == ["notifications:send"]


def test_bootstrap_keys_show_in_the_list(admin_api):
    body = assert_envelope(admin_api.get("/api/v1/admin/api-keys/"), status=200)

    assert sum(item["is_bootstrap"] for item in body["data"]) == len(common_settings.BOOTSTRAP_API_KEYS)


def test_registering_again_creates_nothing_and_never_revives_a_revoked_key(internal_key):
    ApiKey.objects.filter(key_hash=hash_api_key(internal_key)).update(revoked_at=timezone.now())
    out = StringIO()

    call_command("register_bootstrap_keys", stdout=out)

    assert "registered 0" in out.getvalue()
    assert _bootstrap_row(internal_key).revoked_at is not None


def test_a_revoked_bootstrap_key_is_refused(internal_key):
    ApiKey.objects.filter(key_hash=hash_api_key(internal_key)).update(revoked_at=timezone.now())

    assert api_key_verify(internal_key) == KeyRefused("revoked")


def test_migrate_registers_keys_added_to_the_environment(settings):
    common = dict(settings.NOTIFICATION_COMMON)
    common["BOOTSTRAP_API_KEYS"] = {**common["BOOTSTRAP_API_KEYS"], "nk_added_later_to_the_env_000": ["internal"]}
    settings.NOTIFICATION_COMMON = common

    call_command("migrate", interactive=False, verbosity=0)

    assert _bootstrap_row("nk_added_later_to_the_env_000").is_bootstrap


def test_a_bootstrap_key_missing_from_the_table_is_registered_when_first_checked(internal_key):
    ApiKey.objects.filter(is_bootstrap=True).delete()

    assert api_key_check(internal_key) is not None
    assert _bootstrap_row(internal_key).is_bootstrap


def test_bootstrap_scopes_follow_the_environment(internal_key):
    ApiKey.objects.filter(key_hash=hash_api_key(internal_key)).update(scopes=["notifications:send"])

    api_key_register_bootstrap()

    assert _bootstrap_row(internal_key).scopes == ["internal"]


# -- last_used_at ---------------------------------------------------------------------------
def test_first_use_is_written_to_the_database(redis_client):
    key = ApiKeyFactory(raw="nk_usage_key_one_00000000000000")

    api_key_check("nk_usage_key_one_00000000000000")

    key.refresh_from_db()
    assert key.last_used_at is not None


def test_later_uses_within_the_period_stay_in_redis_and_show_in_the_list(redis_client, admin_api):
    key = ApiKeyFactory(raw="nk_usage_key_two_00000000000000")
    api_key_check("nk_usage_key_two_00000000000000")
    key.refresh_from_db()
    first = key.last_used_at

    api_key_check("nk_usage_key_two_00000000000000")

    key.refresh_from_db()
    pending = redis_client.hget(REDIS_API_KEY_LAST_USED, str(key.pk)).decode()
    shown = admin_api.get(f"/api/v1/admin/api-keys/{key.pk}/").json()["data"]["last_used_at"]
    assert key.last_used_at == first  # no database write for the second use
    assert pending > first.isoformat()
    assert shown.replace("Z", "+00:00") == pending


def test_flush_writes_pending_uses_and_empties_redis(redis_client):
    key = ApiKeyFactory(raw="nk_usage_key_three_000000000000")
    api_key_check("nk_usage_key_three_000000000000")
    api_key_check("nk_usage_key_three_000000000000")
    pending = redis_client.hget(REDIS_API_KEY_LAST_USED, str(key.pk)).decode()

    call_command("flush_api_key_usage", stdout=StringIO())

    key.refresh_from_db()
    assert key.last_used_at.isoformat() == pending
    assert redis_client.hget(REDIS_API_KEY_LAST_USED, str(key.pk)) is None


def test_an_unknown_key_records_no_use(redis_client):
    assert api_key_check("nk_nobody_has_this_key_0000000000") is None
    assert redis_client.hlen(REDIS_API_KEY_LAST_USED) == 0
