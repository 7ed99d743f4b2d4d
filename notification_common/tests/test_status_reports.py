"""Status reports reach the user service in batches and survive its outage."""

from notification_common.circuit import CircuitBreaker
from notification_common.http_client import ServiceClient
from notification_common.status_reports import StatusReporter
from notification_devtools.testing.waiting import wait_until


def _collect(stub):
    received = []

    def handler(request):
        received.extend(request["json"])
        return 200, {
            "success": True,
            "data": {"accepted": len(request["json"])},
            "error": None,
            "message": "",
            "meta": None,
        }

    stub.route("POST", "/api/v1/email/status/", handler)
    return received


def test_reports_are_sent_in_one_batch_with_their_fields(stub_server):
    received = _collect(stub_server)
    reporter = StatusReporter("email", client=ServiceClient("user_service", stub_server.url, api_key="k"))
    reporter.report("n-1", "pending", attempt=1, user_id="u-1")
    reporter.report("n-1", "delivered", attempt=1, user_id="u-1")

    assert reporter.flush(timeout=5)

    assert [(r["notification_id"], r["status"]) for r in received] == [("n-1", "pending"), ("n-1", "delivered")]
    assert received[1]["user_id"] == "u-1" and received[1]["timestamp"]
    reporter.stop()


def test_reports_arriving_while_one_is_in_hand_go_out_in_the_same_call(stub_server):
    # Given a reporter that lingers (a long linger, so the test does not race it) for up to 3
    received = _collect(stub_server)
    reporter = StatusReporter(
        "email", client=ServiceClient("user_service", stub_server.url, api_key="k"), batch_size=3, linger=30
    )
    # When one report is taken by the reporter's thread, and two more come after it
    reporter.report("n-1", "delivered")
    wait_until(lambda: reporter._queue.empty(), timeout=5)
    reporter.report("n-2", "delivered")
    reporter.report("n-3", "delivered")

    # Then the three went out in one call (the batch was full: the linger did not delay it)
    assert reporter.flush(timeout=5)
    calls = stub_server.requests_to("POST", "/api/v1/email/status/")
    assert [[r["notification_id"] for r in call["json"]] for call in calls] == [["n-1", "n-2", "n-3"]]
    assert len(received) == 3
    reporter.stop()


def test_reports_wait_out_an_outage_and_are_not_lost(stub_server):
    received = _collect(stub_server)
    stub_server.fail_next(6)  # two calls with their retries
    sent_callbacks = []
    reporter = StatusReporter(
        "email",
        client=ServiceClient(
            "user_service",
            stub_server.url,
            api_key="k",
            retries=2,
            backoff_seconds=0,
            breaker=CircuitBreaker("user_service", failure_threshold=5, reset_seconds=0.2),
        ),
        on_sent=sent_callbacks.append,
        max_backoff=0.2,
    )

    reporter.report("n-2", "failed", error="550 no such user")

    assert reporter.flush(timeout=10)
    assert [r["notification_id"] for r in received] == ["n-2"]
    assert [r.notification_id for batch in sent_callbacks for r in batch] == ["n-2"]
    reporter.stop()
