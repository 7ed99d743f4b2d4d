"""API keys while the admin service is down: recent verdicts carry on, unknown keys get 503,
revocations hold, expiry is checked at the instant, failed lookups are limited per address.

The admin service is a loopback stub serving its verify contract (and then 503s)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from notification_common import api_keys
from notification_common.api_keys import VERIFY_PATH, cache_key
from notification_common.service_clients import reset_clients
from notification_devtools.testing import assert_envelope

KEY = "nk_partner_key_0000000000000000000000"


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC).timestamp()

    def time(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(api_keys, "time", clock)
    return clock


@pytest.fixture
def admin(stub_server, settings, redis_client):
    """This service checks keys through the (stub) admin service; a verdict is re-checked
    after 30 s and kept for a grace hour."""
    common = dict(
        settings.NOTIFICATION_COMMON,
        ADMIN_SERVICE_URL=stub_server.url,
        API_KEY_LOCAL_VERIFIER=None,
        API_KEY_CACHE_SECONDS=30,
        API_KEY_GRACE_SECONDS=3600,
        HTTP_RETRIES=0,
    )
    with override_settings(NOTIFICATION_COMMON=common):
        reset_clients()
        yield stub_server
    reset_clients()


def knows(stub, *, expires_at=None, scopes=("notifications:send",)):
    stub.reply(
        "POST",
        VERIFY_PATH,
        200,
        {"id": "k-1", "name": "partner", "scopes": list(scopes), "expires_at": expires_at},
    )


def refuses(stub, reason):
    stub.reply("POST", VERIFY_PATH, 404, {"reason": reason}, error="invalid_api_key")


def goes_down(stub):
    stub.reply("POST", VERIFY_PATH, 503, None, error="service_unavailable")


def whoami(api_client, key=KEY, ip="198.51.100.7"):
    return api_client.get("/t/whoami/", HTTP_X_API_KEY=key, REMOTE_ADDR=ip)


def test_a_recently_verified_key_keeps_working_while_the_admin_service_is_down(api_client, admin, clock):
    knows(admin)
    assert_envelope(whoami(api_client), status=200)
    goes_down(admin)
    clock.now += 20 * 60  # stale (past 30 s), within the grace hour

    assert_envelope(whoami(api_client), status=200)
    assert len(admin.requests_to("POST", VERIFY_PATH)) == 2  # it did ask again


def test_past_the_grace_period_the_key_needs_the_admin_service_again(api_client, admin, clock, redis_client):
    knows(admin)
    whoami(api_client)
    goes_down(admin)
    clock.now += 2 * 3600
    redis_client.delete(cache_key(KEY))  # what the grace TTL does in real time

    response = whoami(api_client)

    assert_envelope(response, status=503, error="dependency_unavailable")
    assert int(response["Retry-After"]) >= 1


def test_an_unknown_key_gets_503_not_401_while_the_admin_service_cannot_answer(api_client, admin):
    goes_down(admin)

    response = whoami(api_client, key="nk_never_seen_before_000000000000000")

    assert_envelope(response, status=503, error="dependency_unavailable")
    assert response["Retry-After"]


def test_a_revoked_key_stays_refused_through_an_outage(api_client, admin, clock):
    refuses(admin, "revoked")
    assert_envelope(whoami(api_client), status=401)
    goes_down(admin)
    clock.now += 6 * 24 * 3600

    assert_envelope(whoami(api_client), status=401)
    assert len(admin.requests_to("POST", VERIFY_PATH)) == 1


def test_a_revoked_bootstrap_key_stays_refused_through_an_outage(api_client, admin, internal_key):
    refuses(admin, "revoked")
    assert_envelope(api_client.get("/t/internal/", HTTP_X_API_KEY=internal_key), status=401)
    goes_down(admin)

    assert_envelope(api_client.get("/t/internal/", HTTP_X_API_KEY=internal_key), status=401)


def test_a_bootstrap_key_without_a_verdict_works_while_the_admin_service_is_down(api_client, admin, internal_key):
    goes_down(admin)

    assert_envelope(api_client.get("/t/internal/", HTTP_X_API_KEY=internal_key), status=200)


def test_expiry_is_enforced_at_the_instant_not_after_the_cache_ttl(api_client, admin, clock):
    expires = datetime.fromtimestamp(clock.now, UTC) + timedelta(seconds=10)
    knows(admin, expires_at=expires.isoformat())
    assert_envelope(whoami(api_client), status=200)

    clock.now += 10  # still inside the 30 s cache freshness

    assert_envelope(whoami(api_client), status=401)
    assert len(admin.requests_to("POST", VERIFY_PATH)) == 1


def test_a_verdict_is_cached_no_longer_than_the_key_lives(admin, clock, redis_client):
    expires = datetime.fromtimestamp(clock.now, UTC) + timedelta(seconds=90)
    knows(admin, expires_at=expires.isoformat())

    assert api_keys.verify_api_key(KEY) is not None

    assert 0 < redis_client.ttl(cache_key(KEY)) <= 91
    assert json.loads(redis_client.get(cache_key(KEY)))["expires_at"] == expires.isoformat()


def test_failed_lookups_are_limited_per_address(api_client, admin):
    from django.conf import settings

    refuses(admin, "unknown")
    # override_settings, not the settings fixture: it must be undone before the admin fixture's own override.
    limited = override_settings(
        NOTIFICATION_COMMON=dict(settings.NOTIFICATION_COMMON, API_KEY_FAILED_LOOKUPS_PER_MINUTE=3)
    )
    with limited:
        for n in range(3):
            assert_envelope(whoami(api_client, key=f"nk_guess_{n}_000000000000000000000"), status=401)
        refused = whoami(api_client, key="nk_guess_9_000000000000000000000")
        other_address = whoami(api_client, key="nk_guess_9_000000000000000000000", ip="198.51.100.8")

    assert_envelope(refused, status=429, error="rate_limited")
    assert int(refused["Retry-After"]) >= 1
    assert len(admin.requests_to("POST", VERIFY_PATH)) == 4  # the 4th from the first address never got there
    assert_envelope(other_address, status=401)


def test_a_key_with_a_fresh_verdict_never_pays_for_the_failed_lookup_limit(api_client, admin):
    from django.conf import settings

    knows(admin)
    assert whoami(api_client).status_code == 200  # verified once: its verdict is cached
    refuses(admin, "unknown")
    limited = override_settings(
        NOTIFICATION_COMMON=dict(settings.NOTIFICATION_COMMON, API_KEY_FAILED_LOOKUPS_PER_MINUTE=2)
    )
    with limited:
        for n in range(2):
            assert_envelope(whoami(api_client, key=f"nk_guess_{n}_000000000000000000000"), status=401)
        guessing = whoami(api_client, key="nk_guess_9_000000000000000000000")
        known = whoami(api_client)

    # The address is over its limit for lookups the admin service would have to answer, but the
    # known key is answered from its cached verdict: no limiter read, no admin call, no 429.
    assert_envelope(guessing, status=429, error="rate_limited")
    assert known.status_code == 200
    assert len(admin.requests_to("POST", VERIFY_PATH)) == 3
