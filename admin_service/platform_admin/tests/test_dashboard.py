"""The dashboard shows what the queues and the services' stats endpoints hold."""

import threading
import time

import pytest
from django.conf import settings as django_settings

from notification_common.rabbitmq import EMAIL_QUEUE, FAILED_QUEUE, PUSH_QUEUE, Publisher, all_queues, connect
from notification_devtools.testing import assert_envelope
from platform_admin.clients import monitored_services
from platform_admin.dashboard import SELF
from platform_admin.tests.factories import DeadLetterFactory

pytestmark = pytest.mark.django_db

DASHBOARD = "/api/v1/admin/dashboard/"
HEALTH_UP = {"service": "x", "status": "up", "checks": {"database": {"status": "up"}}}
EMAIL_STATS = {
    "by_status": {
        "last_hour": {"delivered": 8, "failed": 2, "pending": 1},
        "last_day": {"delivered": 80, "failed": 20},
        "total": {"delivered": 800, "failed": 200},
    },
    "consumer": {"heartbeat_age_seconds": 1.5},
}
PUSH_STATS = {
    "by_status": {
        "last_hour": {"delivered": 5, "pending": 3},
        "last_day": {"delivered": 20},
        "total": {"delivered": 200, "failed": 0},
    },
    "consumer": {"heartbeat_age_seconds": 0.5},
}
GATEWAY_STATS = {
    "outbox": {"backlog": 7, "oldest_age_seconds": 12.5},
    "accepted": {"last_hour": {"email": 11, "push": 8}, "last_day": {"email": 100, "push": 20}},
}


@pytest.fixture
def healthy_platform(platform):
    platform.reply("GET", "/api/v1/health/", 200, HEALTH_UP)
    platform.reply("GET", "/api/v1/notifications/stats/", 200, GATEWAY_STATS)
    platform.reply("GET", "/api/v1/emails/stats/", 200, EMAIL_STATS)
    platform.reply("GET", "/api/v1/pushes/stats/", 200, PUSH_STATS)
    platform.reply("GET", "/api/v1/users/stats/", 200, {"users": {"total": 3, "active": 2}})
    return platform


def _publish(url, queue: str, count: int, *, exchange=None) -> None:
    with Publisher(url) as publisher:
        for n in range(count):
            kwargs = {"exchange": exchange} if exchange is not None else {}
            publisher.publish(queue, {"n": n}, **kwargs)


def test_queue_depths_and_consumers_match_the_broker(admin_api, healthy_platform, rabbit_channel, rabbitmq_url):
    _publish(rabbitmq_url, EMAIL_QUEUE, 3)
    _publish(rabbitmq_url, PUSH_QUEUE, 2)
    _publish(rabbitmq_url, FAILED_QUEUE, 4)
    _publish(rabbitmq_url, "email.queue.retry.2", 1, exchange="")
    listener = connect(rabbitmq_url)
    listener.channel().basic_consume("push.queue.retry.9", on_message_callback=lambda *args: None)
    try:
        data = assert_envelope(admin_api.get(DASHBOARD), status=200)["data"]
    finally:
        listener.close()

    depths = data["queues"]["depths"]
    assert set(depths) == set(all_queues())
    assert (depths[EMAIL_QUEUE]["messages"], depths[PUSH_QUEUE]["messages"], depths[FAILED_QUEUE]["messages"]) == (
        3,
        2,
        4,
    )
    assert depths["email.queue.retry.2"]["messages"] == 1
    assert depths["push.queue.retry.9"]["consumers"] == 1
    assert data["queues"]["total_ready"] == 10
    assert data["dead_letters"]["in_queue"] == 4


def test_notification_figures_match_the_stats_endpoints(admin_api, healthy_platform, rabbit_channel):
    data = assert_envelope(admin_api.get(DASHBOARD), status=200)["data"]

    notifications = data["notifications"]
    assert notifications["by_status"]["last_hour"] == {"delivered": 13, "failed": 2, "pending": 4}
    assert notifications["by_status"]["last_day"] == {"delivered": 100, "failed": 20}
    assert notifications["by_channel"]["email"] == EMAIL_STATS["by_status"]
    assert notifications["accepted"] == GATEWAY_STATS["accepted"]
    assert data["outbox"] == {"backlog": 7, "oldest_age_seconds": 12.5}
    rate = data["delivery_success_rate"]
    assert (rate["last_hour"], rate["last_day"], rate["total"]) == (
        round(13 / 15, 4),
        round(100 / 120, 4),
        round(1000 / 1200, 4),
    )
    assert rate["by_channel"]["push"]["last_hour"] == 1.0
    assert data["consumers"]["email"]["heartbeat_age_seconds"] == 1.5


def test_every_service_is_up_and_asked_with_the_internal_key(admin_api, healthy_platform, rabbit_channel):
    data = assert_envelope(admin_api.get(DASHBOARD), status=200)["data"]

    assert data["status"] == "ok"
    assert set(data["services"]) == {
        "api_gateway_service",
        "user_service",
        "template_service",
        "email_service",
        "push_service",
        "admin_service",
    }
    assert all(service["status"] == "up" for service in data["services"].values())
    stats_call = healthy_platform.requests_to("GET", "/api/v1/emails/stats/")[0]
    assert stats_call["headers"]["X-API-Key"] == django_settings.NOTIFICATION_COMMON["SERVICE_API_KEY"]


def test_pending_dead_letters_are_counted(admin_api, healthy_platform, rabbit_channel):
    DeadLetterFactory.create_batch(2)
    DeadLetterFactory(channel="push", original_queue=PUSH_QUEUE, stored_reduced=True)
    replayed = DeadLetterFactory()
    replayed.replayed_at = replayed.received_at
    replayed.save()

    stored = admin_api.get(DASHBOARD).json()["data"]["dead_letters"]["stored"]

    assert stored == {"total": 4, "pending": 3, "pending_by_channel": {"email": 2, "push": 1}, "stored_reduced": 1}


def test_a_service_that_is_down_shows_as_down_and_its_figures_as_null(admin_api, healthy_platform, settings):
    settings.PUSH_SERVICE_URL = "http://127.0.0.1:9"

    data = assert_envelope(admin_api.get(DASHBOARD), status=200)["data"]

    assert data["status"] == "degraded"
    assert data["services"]["push_service"]["status"] == "down"
    assert data["services"]["email_service"]["status"] == "up"
    assert data["notifications"]["by_channel"]["push"] is None
    assert data["notifications"]["errors"]["push_service"]
    assert data["notifications"]["by_status"]["last_hour"] == {"delivered": 8, "failed": 2, "pending": 1}


def test_a_service_whose_health_is_503_shows_as_down(admin_api, healthy_platform):
    healthy_platform.reply("GET", "/api/v1/health/", 503, {"status": "down"}, error="dependency_unavailable")

    services = admin_api.get(DASHBOARD).json()["data"]["services"]

    assert services["api_gateway_service"]["status"] == "down"
    assert services["admin_service"]["status"] == "up"  # itself: checked in-process


def test_everything_down_still_answers_200(admin_api, settings):
    for name in ("GATEWAY", "USER", "TEMPLATE", "EMAIL", "PUSH"):
        setattr(settings, f"{name}_SERVICE_URL", "http://127.0.0.1:9")
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, RABBITMQ_URL="amqp://guest:guest@127.0.0.1:1/x")

    data = assert_envelope(admin_api.get(DASHBOARD), status=200)["data"]

    assert data["queues"] == {"status": "down", "error": data["queues"]["error"], "depths": None, "total_ready": None}
    assert data["outbox"] is None and data["delivery_success_rate"]["last_hour"] is None
    assert sum(service["status"] == "down" for service in data["services"].values()) >= 5


def test_services_are_asked_in_parallel(admin_api, healthy_platform, rabbit_channel, settings):
    # Each health endpoint answers only once every service's health request has arrived: asked
    # one after another, the first waits in vain (its barrier breaks) and every service is down.
    others = [name for name in monitored_services() if name != SELF]
    all_asked = threading.Barrier(len(others), timeout=20)
    settings.DASHBOARD_TIMEOUT_SECONDS = 30  # the barrier's verdict, not the client's timeout

    def health_once_all_are_asked(request):
        try:
            all_asked.wait()
        except threading.BrokenBarrierError:
            return 503, {"success": False, "data": None, "error": "asked_one_by_one", "message": "", "meta": None}
        return 200, {"success": True, "data": HEALTH_UP, "error": None, "message": "", "meta": None}

    healthy_platform.route("GET", "/api/v1/health/", health_once_all_are_asked)

    data = assert_envelope(admin_api.get(DASHBOARD), status=200)["data"]

    assert len(healthy_platform.requests_to("GET", "/api/v1/health/")) == len(others)
    assert {name: data["services"][name]["status"] for name in others} == dict.fromkeys(others, "up")
    assert not all_asked.broken


def test_a_service_slower_than_the_timeout_shows_as_down(admin_api, healthy_platform, settings):
    settings.DASHBOARD_TIMEOUT_SECONDS = 0.3

    def too_slow(request):
        time.sleep(1)
        return 200, {"success": True, "data": {}, "error": None, "message": "", "meta": None}

    healthy_platform.route("GET", "/api/v1/pushes/stats/", too_slow)

    data = assert_envelope(admin_api.get(DASHBOARD), status=200)["data"]

    assert data["notifications"]["by_channel"]["push"] is None


def test_dashboard_needs_an_admin_token(api_client):
    assert_envelope(api_client.get(DASHBOARD), status=401)
