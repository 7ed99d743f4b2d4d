"""What another service sees: notification_common.api_keys.verify_api_key asking a real
admin service process over HTTP (this test process plays the other service)."""

import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from notification_common import api_keys
from notification_common.api_keys import verify_api_key
from notification_common.conf import common_settings
from notification_common.service_clients import reset_clients
from notification_devtools.testing.processes import gunicorn_serving
from platform_admin.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)

SERVICE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def admin_service_url(django_db_setup):
    """The admin service under gunicorn, on the test database, Redis db and vhost."""
    db = connection.settings_dict
    env = {
        "ADMIN_DATABASE_URL": (
            f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'])}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        # The same Redis db and vhost as this test session (not another suite's).
        "REDIS_URL": common_settings.REDIS_URL,
        "RABBITMQ_URL": common_settings.RABBITMQ_URL,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    with gunicorn_serving(cwd=SERVICE_DIR, env=env, what="the admin service", timeout=20) as url:
        yield url


@pytest.fixture
def as_another_service(admin_service_url, settings):
    """Settings of a service that checks keys through the admin service (no local lookup)."""

    def configure(cache_seconds: int = 30):
        common = dict(
            settings.NOTIFICATION_COMMON,
            API_KEY_LOCAL_VERIFIER=None,
            ADMIN_SERVICE_URL=admin_service_url,
            API_KEY_CACHE_SECONDS=cache_seconds,
        )
        return override_settings(NOTIFICATION_COMMON=common)

    reset_clients()
    yield configure
    reset_clients()


def _create_key(admin_api, scopes=("notifications:send",)) -> dict:
    return admin_api.post("/api/v1/admin/api-keys/", {"name": "partner", "scopes": list(scopes)}).json()["data"]


def test_another_service_accepts_a_new_key_with_its_scopes(admin_api, as_another_service):
    created = _create_key(admin_api, scopes=["notifications:send", "templates:write"])

    with as_another_service():
        assert common_settings.API_KEY_LOCAL_VERIFIER is None
        info = verify_api_key(created["key"])

    assert info is not None
    assert (info.key_id, info.scopes) == (created["id"], ("notifications:send", "templates:write"))


def test_a_revoked_key_is_refused_elsewhere_at_once_because_the_cached_verdict_is_dropped(
    admin_api, as_another_service
):
    created = _create_key(admin_api)
    with as_another_service(cache_seconds=300):
        assert verify_api_key(created["key"]) is not None  # now cached for 5 minutes

        admin_api.post(f"/api/v1/admin/api-keys/{created['id']}/revoke/")

        assert verify_api_key(created["key"]) is None


class MovedClock:
    """Stands in for the ``time`` module of notification_common.api_keys, which reads the time
    only as ``time.time()`` (when a verdict was checked, whether it is still fresh)."""

    def __init__(self):
        self.now = float(int(time.time()))  # whole seconds: the steps below add up exactly

    def time(self) -> float:
        return self.now


def test_a_revoked_key_is_refused_elsewhere_within_the_cache_ttl_when_nothing_drops_the_entry(
    admin_api, as_another_service, monkeypatch
):
    clock = MovedClock()
    monkeypatch.setattr(api_keys, "time", clock)
    created = _create_key(admin_api)
    with as_another_service(cache_seconds=30):
        assert verify_api_key(created["key"]) is not None
        # Revoked behind the admin service's back (no cache drop): only the TTL ends it.
        ApiKey.objects.filter(pk=created["id"]).update(revoked_at=timezone.now())

        clock.now += 29
        still_cached = verify_api_key(created["key"])
        clock.now += 1
        after_ttl = verify_api_key(created["key"])

    assert still_cached is not None  # the cached verdict, one second before it is re-checked
    assert after_ttl is None  # re-checked with the admin service at 30 s: revoked


def test_another_service_refuses_an_unknown_key(as_another_service):
    with as_another_service():
        assert verify_api_key("nk_never_issued_by_anyone_0000000000") is None
