"""A status report is never dropped: refused or unanswered reports stay pending until they land.

The user service is a loopback stub answering the way ``users.status_apis.StatusReportApi`` does
(per-report ``results`` with an ``outcome``); the reporter talks real HTTP to it.
"""

import threading
import time

import pytest
from django.test import override_settings

from notification_common.circuit import CircuitBreaker
from notification_common.http_client import ServiceClient
from notification_common.status_report_backlog import check_status_reports, status_report_backlog
from notification_common.status_reports import StatusReporter
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.waiting import wait_until

PATH = "/api/v1/email/status/"


class UserServiceStub:
    """Answers status reports like the user service; ``refuse_with`` makes it refuse every call."""

    def __init__(self, stub):
        self.stub = stub
        self.stored: list[dict] = []
        self.refuse_with: tuple[int, dict] | None = None
        self.invalid_ids: set[str] = set()
        self.calls: list[float] = []
        self._lock = threading.Lock()
        stub.route("POST", PATH, self._handle)

    def _handle(self, request):
        with self._lock:
            self.calls.append(time.monotonic())
            if self.refuse_with is not None:
                status, headers = self.refuse_with
                body = {"success": False, "data": None, "error": "refused", "message": "", "meta": None}
                return status, body, headers
            results = []
            for index, item in enumerate(request["json"]):
                if item["notification_id"] in self.invalid_ids:
                    results.append({"index": index, "outcome": "rejected", "errors": {"status": ["invalid"]}})
                else:
                    self.stored.append(item)
                    results.append({"index": index, "notification_id": item["notification_id"], "outcome": "created"})
            accepted = sum(1 for r in results if r["outcome"] != "rejected")
            data = {"accepted": accepted, "rejected": len(results) - accepted, "results": results}
            if not accepted:
                return 400, {"success": False, "data": data, "error": "validation_error", "message": "", "meta": None}
            return 200, {"success": True, "data": data, "error": None, "message": "", "meta": None}


@pytest.fixture
def user_service(stub_server):
    return UserServiceStub(stub_server)


class Clock:
    def __init__(self):
        self.now = 1_700_000_000.0

    def __call__(self):
        return self.now


_started: list[StatusReporter] = []


@pytest.fixture(autouse=True)
def _stop_reporters():
    """Every reporter's thread ends with its test, even a failed one (no backlog left publishing)."""
    yield
    while _started:
        _started.pop().stop(timeout=0)


def _reporter(stub_server, **kwargs) -> StatusReporter:
    client = ServiceClient(
        "user_service",
        stub_server.url,
        api_key="k",
        retries=0,
        backoff_seconds=0,
        breaker=CircuitBreaker("user_service", failure_threshold=1000, reset_seconds=0.1),
    )
    kwargs.setdefault("max_backoff", 0.05)
    kwargs.setdefault("flush_interval", 0.02)
    reporter = StatusReporter("email", client=client, **kwargs).start()
    _started.append(reporter)
    return reporter


@pytest.mark.parametrize("refusal", [401, 403, 404, 500, 503])
def test_a_refused_report_stays_pending_and_lands_once_the_key_is_fixed(stub_server, user_service, refusal):
    user_service.refuse_with = (refusal, {})
    marked = []
    reporter = _reporter(stub_server, on_sent=marked.extend)

    reporter.report("n-1", "delivered", attempt=1)
    wait_until(lambda: len(user_service.calls) >= 3, what="several refused tries")

    assert marked == []  # never marked reported while refused
    assert reporter.pending() == 1 and reporter.sent == 0

    user_service.refuse_with = None  # the key is fixed
    assert reporter.flush(timeout=10)

    assert [r["notification_id"] for r in user_service.stored] == ["n-1"]
    assert [r.notification_id for r in marked] == ["n-1"]
    reporter.stop()


def test_connection_errors_keep_reports_pending_until_the_service_is_back(stub_server, user_service):
    marked = []
    reporter = StatusReporter(
        "email",
        client=ServiceClient("user_service", "http://127.0.0.1:9", api_key="k", retries=0),
        on_sent=marked.extend,
        max_backoff=0.05,
        flush_interval=0.02,
    )
    reporter.report("n-2", "failed", error="550")
    assert not reporter.flush(timeout=0.3)
    assert marked == [] and reporter.pending() == 1

    reporter._client = ServiceClient("user_service", stub_server.url, api_key="k", retries=0)  # back up
    assert reporter.flush(timeout=10)
    assert [r.notification_id for r in marked] == ["n-2"]
    reporter.stop()


def test_429_is_retried_after_the_retry_after_it_names(stub_server, user_service):
    user_service.refuse_with = (429, {"Retry-After": "1"})
    reporter = _reporter(stub_server, max_backoff=0.01)

    reporter.report("n-3", "delivered")
    wait_until(lambda: len(user_service.calls) >= 1, what="the first try")
    user_service.refuse_with = None
    assert reporter.flush(timeout=10)

    first, second = user_service.calls[:2]
    assert second - first >= 0.9  # waited what the server asked, not our 10 ms backoff
    assert [r["notification_id"] for r in user_service.stored] == ["n-3"]
    reporter.stop()


def test_an_invalid_report_in_a_batch_is_counted_and_does_not_hold_back_the_others(stub_server, user_service):
    user_service.invalid_ids = {"bad"}
    marked, rejected = [], []
    reporter = StatusReporter(
        "email",
        client=ServiceClient("user_service", stub_server.url, api_key="k", retries=0),
        on_sent=marked.extend,
        on_rejected=rejected.extend,
    )
    for notification_id in ("a", "bad", "b"):
        reporter.report(notification_id, "delivered")

    assert reporter.flush(timeout=10)

    assert [r.notification_id for r in marked] == ["a", "b"]
    assert [r.notification_id for r in rejected] == ["bad"]  # logged and counted, not marked reported
    assert reporter.rejected == 1 and reporter.sent == 2
    # Each report went out once: the invalid one is not retried (it will not get better).
    posted = [item["notification_id"] for r in user_service.stub.requests_to("POST", PATH) for item in r["json"]]
    assert sorted(posted) == ["a", "b", "bad"]
    reporter.stop()


def test_a_batch_of_only_invalid_reports_is_rejected_not_retried(stub_server, user_service):
    user_service.invalid_ids = {"bad-1", "bad-2"}
    marked = []
    reporter = _reporter(stub_server, on_sent=marked.extend)
    reporter.report("bad-1", "delivered")
    reporter.report("bad-2", "delivered")

    assert reporter.flush(timeout=10)

    assert marked == [] and reporter.rejected == 2
    reporter.stop()


def test_a_batch_refused_as_a_whole_is_split_so_good_reports_land(stub_server):
    # A 400 with no per-report answer (e.g. over the user service's batch limit).
    stored = []

    def handler(request):
        items = request["json"]
        if len(items) > 1 or items[0]["notification_id"] == "bad":
            return 400, {"success": False, "data": None, "error": "validation_error", "message": "", "meta": None}
        stored.extend(items)
        return 200, {"success": True, "data": {"accepted": 1}, "error": None, "message": "", "meta": None}

    stub_server.route("POST", PATH, handler)
    reporter = StatusReporter("email", client=ServiceClient("user_service", stub_server.url, api_key="k", retries=0))
    for notification_id in ("a", "bad", "b"):
        reporter.report(notification_id, "failed")
    reporter.start()

    assert reporter.flush(timeout=10)

    assert sorted(r["notification_id"] for r in stored) == ["a", "b"]
    assert reporter.rejected == 1
    reporter.stop()


# -- visible while stuck: backlog, health, /metrics -------------------------------------------


def test_the_backlog_shows_pending_count_and_oldest_age(stub_server, user_service):
    user_service.refuse_with = (401, {})
    clock = Clock()
    reporter = _reporter(stub_server, clock=clock)
    reporter.report("n-old", "delivered")
    clock.now += 30
    reporter.report("n-new", "failed")
    clock.now += 10

    backlog = reporter.backlog()

    assert backlog["pending"] == 2
    assert backlog["oldest_pending_seconds"] == 40
    user_service.refuse_with = None
    assert reporter.flush(timeout=10)
    assert reporter.backlog()["pending"] == 0
    reporter.stop()


@pytest.fixture
def email_channel(redis_client):
    from django.conf import settings

    common = {**settings.NOTIFICATION_COMMON, "STATUS_REPORT_CHANNELS": ["email"], "STATUS_REPORT_STUCK_SECONDS": 60}
    with override_settings(NOTIFICATION_COMMON=common):
        yield


def test_reports_pending_for_a_short_while_keep_health_up(stub_server, user_service, email_channel):
    user_service.refuse_with = (503, {})
    reporter = _reporter(stub_server, publish_backlog_every=0.01)
    reporter.report("n-fresh", "delivered")

    wait_until(lambda: status_report_backlog("email")["pending"] == 1, what="the published backlog")

    assert check_status_reports()["status"] == "up"
    user_service.refuse_with = None
    assert reporter.flush(timeout=10)
    reporter.stop()


@pytest.mark.django_db
def test_health_and_metrics_show_reports_stuck_longer_than_the_threshold(
    stub_server, user_service, email_channel, api_client, internal_key
):
    user_service.refuse_with = (403, {})
    # The worker took the report two minutes ago (its clock is the wall clock, shifted back).
    reporter = _reporter(stub_server, clock=lambda: time.time() - 120, publish_backlog_every=0.01)
    reporter.report("n-stuck", "delivered")
    wait_until(lambda: status_report_backlog("email")["pending"] == 1, what="the published backlog")

    # Degraded, not down; the details are for internal keys (anonymous callers see up/down only).
    health = assert_envelope(api_client.get("/api/v1/health/", HTTP_X_API_KEY=internal_key), status=200)

    check = health["data"]["checks"]["status_reports"]
    assert health["data"]["status"] == "degraded"
    assert check["status"] == "degraded" and check["email"]["pending"] == 1
    assert check["email"]["oldest_pending_seconds"] >= 120
    metrics = api_client.get("/metrics").content.decode()
    assert 'status_reports_pending{channel="email"} 1.0' in metrics
    assert 'status_reports_oldest_pending_seconds{channel="email"}' in metrics

    user_service.refuse_with = None
    assert reporter.flush(timeout=10)
    wait_until(lambda: status_report_backlog("email")["pending"] == 0, what="the backlog cleared")
    reporter.stop()
