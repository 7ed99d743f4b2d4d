"""The user service remembers valid API-key verdicts in the worker's memory
(notification_common/remembered_api_keys.py): a revoked key is refused within
API_KEY_LOCAL_CACHE_SECONDS, never later."""

import pytest

from notification_common import remembered_api_keys
from notification_common.api_keys import forget_api_key, hash_api_key
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db


def lookup(client, user):
    return client.get(f"/api/v1/users/{user.id}/")


def test_revoked_key_is_refused_once_its_remembered_verdict_is_older_than_the_bound(
    internal_client, internal_key, user, settings, remembered_keys_clock
):
    settings.API_KEY_LOCAL_CACHE_SECONDS = 5.0
    assert_envelope(lookup(internal_client, user), status=200)

    forget_api_key(hash_api_key(internal_key), revoked=True)  # what the admin service does on revoke

    remembered_keys_clock.now += 4.9
    assert_envelope(lookup(internal_client, user), status=200)  # within the documented bound
    remembered_keys_clock.now += 0.2
    assert_envelope(lookup(internal_client, user), status=401, error="authentication_failed")


def test_with_the_memory_turned_off_a_revocation_takes_effect_at_once(internal_client, internal_key, user, settings):
    settings.API_KEY_LOCAL_CACHE_SECONDS = 0
    assert_envelope(lookup(internal_client, user), status=200)

    forget_api_key(hash_api_key(internal_key), revoked=True)

    assert_envelope(lookup(internal_client, user), status=401, error="authentication_failed")


def test_a_refused_key_is_not_remembered_so_it_keeps_counting_as_a_failed_lookup(
    api_client, user, settings, remembered_keys_clock
):
    settings.API_KEY_LOCAL_CACHE_SECONDS = 5.0
    api_client.credentials(HTTP_X_API_KEY="not-a-key")

    for _ in range(2):
        assert_envelope(lookup(api_client, user), status=401, error="authentication_failed")

    assert remembered_api_keys.remembered_verdict_count() == 0


def test_a_remembered_key_keeps_its_scopes(sender_client, user, settings, remembered_keys_clock):
    settings.API_KEY_LOCAL_CACHE_SECONDS = 5.0

    for _ in range(2):  # the second answer comes from the remembered verdict
        assert_envelope(lookup(sender_client, user), status=403, error="permission_denied")
    assert remembered_api_keys.remembered_verdict_count() == 1


def test_the_user_service_authenticates_keys_through_the_remembering_class():
    from django.conf import settings as django_settings

    assert (
        "notification_common.remembered_api_keys.RememberingApiKeyAuthentication"
        in django_settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
    )
