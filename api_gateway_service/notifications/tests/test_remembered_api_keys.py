"""Valid API-key verdicts remembered in the worker's memory (API_KEY_LOCAL_CACHE_SECONDS,
notification_common/remembered_api_keys.py): a revoked key is refused within the bound, never
later; refusals are never remembered; scopes and expiry still apply."""

import pytest

from notification_common import remembered_api_keys
from notification_common.api_keys import forget_api_key, hash_api_key
from notification_devtools.testing import assert_envelope
from notifications.tests.conftest import notification_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def sending(send, user_service, rabbit_channel, fresh_rate_limits, sender_key):
    user_id = user_service.add_user()
    yield lambda key=None: send(notification_body(user_id), key=key)
    forget_api_key(hash_api_key(sender_key))  # the shared revoked verdict must not outlive the test


def test_a_revoked_key_is_refused_once_its_remembered_verdict_is_older_than_the_bound(
    sending, sender_key, settings, remembered_keys_clock
):
    settings.API_KEY_LOCAL_CACHE_SECONDS = 2.0
    assert_envelope(sending(), status=202)

    forget_api_key(hash_api_key(sender_key), revoked=True)  # what the admin service does on revoke

    remembered_keys_clock.now += 1.9
    assert_envelope(sending(), status=202)  # within the documented bound
    remembered_keys_clock.now += 0.2
    assert_envelope(sending(), status=401, error="authentication_failed")


def test_with_the_memory_turned_off_a_revocation_takes_effect_at_once(sending, sender_key, settings):
    settings.API_KEY_LOCAL_CACHE_SECONDS = 0
    assert_envelope(sending(), status=202)

    forget_api_key(hash_api_key(sender_key), revoked=True)

    assert_envelope(sending(), status=401, error="authentication_failed")


def test_a_refused_key_is_not_remembered(sending, settings, remembered_keys_clock):
    settings.API_KEY_LOCAL_CACHE_SECONDS = 2.0

    for _ in range(2):
        assert_envelope(sending(key="not-a-key"), status=401, error="authentication_failed")

    assert remembered_api_keys.remembered_verdict_count() == 0


def test_a_remembered_key_keeps_its_scopes(sending, internal_key, settings, remembered_keys_clock):
    settings.API_KEY_LOCAL_CACHE_SECONDS = 2.0

    for _ in range(2):  # the second answer comes from the remembered verdict
        assert_envelope(sending(key=internal_key), status=403, error="permission_denied")
    assert remembered_api_keys.remembered_verdict_count() == 1
