"""Races against the real database: duplicates decided by unique constraints and row locks."""

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient

from users.models import Device, NotificationLog, NotificationStatusEvent, User
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def run_together(calls) -> list:
    """Run the callables at the same moment, each in its own thread and DB connection."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # surfaced by the assertions below
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_concurrent_duplicate_registrations_create_one_user():
    body = {"name": "Ada", "email": "ada@example.com", "password": PASSWORD}

    responses = run_together([lambda: APIClient().post("/api/v1/users/", body, format="json")] * THREADS)

    assert Counter(r.status_code for r in responses) == {201: 1, 409: THREADS - 1}
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"email_taken"}
    assert User.objects.count() == 1


def test_concurrent_registrations_differing_only_in_case_create_one_user():
    emails = [f"{'ADA' if i % 2 else 'ada'}@Example.com" for i in range(THREADS)]
    calls = [
        lambda e=e: APIClient().post("/api/v1/users/", {"name": "Ada", "email": e, "password": PASSWORD})
        for e in emails
    ]

    responses = run_together(calls)

    assert sorted(r.status_code for r in responses) == [201] + [409] * (THREADS - 1)


def test_concurrent_first_reports_create_one_row_and_the_final_status_wins(internal_key):
    nid = str(uuid.uuid4())
    t0 = datetime(2026, 11, 24, tzinfo=UTC)
    statuses = ["pending"] * (THREADS - 1) + ["delivered"]

    def post(i, status):
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=internal_key)
        timestamp = (t0 + timedelta(seconds=i)).isoformat()
        return client.post("/api/v1/email/status/", {"notification_id": nid, "status": status, "timestamp": timestamp})

    responses = run_together([lambda i=i, s=s: post(i, s) for i, s in enumerate(statuses)])

    assert {r.status_code for r in responses} == {200}
    assert [r.json()["data"]["outcome"] for r in responses].count("created") == 1
    log = NotificationLog.objects.get(notification_id=nid)
    assert log.status == "delivered"
    assert NotificationStatusEvent.objects.filter(log=log).count() == THREADS


def test_concurrent_identical_reports_are_recorded_once(internal_key):
    nid = str(uuid.uuid4())
    body = {"notification_id": nid, "status": "failed", "timestamp": "2026-11-24T01:00:00Z", "error": "550"}

    def post():
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=internal_key)
        return client.post("/api/v1/push/status/", body)

    responses = run_together([post] * THREADS)

    assert Counter(r.json()["data"]["outcome"] for r in responses) == {"created": 1, "duplicate": THREADS - 1}
    assert NotificationStatusEvent.objects.count() == 1


def test_concurrent_adds_of_the_same_token_make_one_device(internal_key):
    user = UserFactory()

    def post():
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=internal_key)
        return client.post(f"/api/v1/users/{user.id}/devices/", {"token": "tok-1"})

    responses = run_together([post] * THREADS)

    assert {r.status_code for r in responses} <= {200, 201}
    assert Device.objects.filter(user=user).count() == 1


def test_concurrent_wrong_passwords_evaluate_at_most_the_limit(settings, redis_client):
    settings.LOGIN_MAX_FAILURES_PER_EMAIL = 3
    user = UserFactory()

    def guess(n):
        client = APIClient()
        return client.post(
            "/api/v1/users/login/",
            {"email": user.email, "password": "wrong"},
            format="json",
            REMOTE_ADDR=f"198.51.100.{n}",
        )

    responses = run_together([lambda n=n: guess(n) for n in range(THREADS)])

    assert sorted(r.status_code for r in responses) == [401] * 3 + [429] * (THREADS - 3)
