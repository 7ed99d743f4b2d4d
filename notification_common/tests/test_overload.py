"""Past capacity, a process answers 503 with Retry-After at once instead of queueing
requests into client timeouts; what it accepts is served normally.

gunicorn (the same configuration as production) with one worker and two threads runs the
test project; a view holds each thread for 0.4 s, so of 12 simultaneous requests most wait
far longer than the 0.2 s queue limit of this test."""

import threading
from pathlib import Path

import pytest
import requests

from notification_devtools.testing.processes import gunicorn_serving

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server():
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "ENVIRONMENT": "test", "OVERLOAD_MAX_QUEUE_SECONDS": "0.2"}
    with gunicorn_serving(
        cwd=ROOT, env=env, wsgi="tests.wsgi", threads=2, what="the test project under gunicorn"
    ) as url:
        yield url


def _together(count: int, call) -> list:
    barrier, results = threading.Barrier(count), [None] * count

    def run(index):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_requests_that_waited_too_long_for_a_thread_get_503_with_retry_after(server):
    responses = _together(12, lambda: requests.get(f"{server}/t/slow/?seconds=0.4", timeout=30))

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 2, statuses
    assert statuses.count(503) >= 4, statuses
    assert set(statuses) == {200, 503}
    for response in responses:
        if response.status_code == 503:
            body = response.json()
            assert (body["success"], body["error"]) == (False, "overloaded")
            assert body["data"]["queued_ms"] > 200
            assert response.headers["Retry-After"] == "1"


def test_health_is_never_shed(server):
    slow = threading.Thread(target=lambda: _together(6, lambda: requests.get(f"{server}/t/slow/?seconds=0.5")))
    slow.start()
    try:
        live = _together(4, lambda: requests.get(f"{server}/api/v1/health/live/", timeout=30))
    finally:
        slow.join(timeout=60)

    assert [r.status_code for r in live] == [200] * 4


def test_an_idle_process_serves_normally(server):
    assert requests.get(f"{server}/t/slow/?seconds=0", timeout=10).status_code == 200
