"""Admin login limits: counted before the password is checked (concurrent guesses cannot
overrun them) and keyed on the real client address behind trusted proxies."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from notification_devtools.testing import assert_envelope
from platform_admin.tests.factories import ADMIN_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN = "/api/v1/admin/login/"


@pytest.fixture(autouse=True)
def _limits(settings, redis_client):
    settings.ADMIN_LOGIN_ATTEMPTS_PER_ACCOUNT = 3
    settings.ADMIN_LOGIN_ATTEMPTS_PER_IP = 4


def login(password="wrong", *, username="ada", remote="10.0.0.2", forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return APIClient().post(LOGIN, {"username": username, "password": password}, format="json", **extra)


def test_concurrent_wrong_passwords_evaluate_at_most_the_account_limit(admin_user):
    threads = 10
    barrier, statuses = threading.Barrier(threads), []

    def guess(n):
        try:
            barrier.wait()
            statuses.append(login(remote=f"198.51.100.{n}").status_code)
        finally:
            connection.close()

    workers = [threading.Thread(target=guess, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert sorted(statuses) == [401] * 3 + [429] * (threads - 3)
    assert_envelope(login(ADMIN_PASSWORD, remote="198.51.100.99"), status=429, error="rate_limited")


def test_behind_a_trusted_proxy_one_guesser_does_not_lock_out_everyone(admin_user, settings):
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, TRUSTED_PROXIES=["10.0.0.0/8"])
    for n in range(4):
        login(username=f"nobody{n}", forwarded="203.0.113.66")
    assert login(username="nobody9", forwarded="203.0.113.66").status_code == 429

    response = login(ADMIN_PASSWORD, forwarded="203.0.113.10")

    assert_envelope(response, status=200)


def test_without_trusted_proxies_the_forwarded_header_cannot_pick_a_fresh_address(admin_user):
    for n in range(4):
        login(username=f"nobody{n}", forwarded=f"203.0.113.{n}")

    assert login(username="nobody9", forwarded="203.0.113.200").status_code == 429
