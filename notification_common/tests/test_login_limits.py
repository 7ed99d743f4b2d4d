"""notification_common.login_limits: count first, then verify; concurrent guesses cannot
overrun the limit."""

import threading

import pytest

from notification_common.exceptions import RateLimited
from notification_common.login_limits import login_attempt_admit

LIMITS = {"account_limit": 3, "address_limit": 5, "window_seconds": 60}


def admit(account="ada@example.com", address="198.51.100.7", **limits):
    return login_attempt_admit(scope="test", account=account, address=address, **(LIMITS | limits))


@pytest.fixture(autouse=True)
def _clean(redis_client):
    yield


def test_attempts_up_to_the_account_limit_are_admitted_then_refused_with_retry_after():
    for _ in range(3):
        admit()

    with pytest.raises(RateLimited) as refused:
        admit()

    assert 1 <= refused.value.data["retry_after"] <= 60
    assert refused.value.headers["Retry-After"] == str(refused.value.data["retry_after"])


def test_a_success_clears_the_account_count():
    admit()
    admit()
    admit().succeeded()

    for _ in range(3):
        admit()


def test_a_success_does_not_clear_what_others_counted_from_the_same_address():
    for n in range(4):
        admit(account=f"guess{n}@example.com")
    admit(account="owner@example.com").succeeded()

    admit(account="another@example.com")  # 5th counted attempt from the address
    with pytest.raises(RateLimited):
        admit(account="owner@example.com")


def test_the_address_limit_spans_accounts():
    for n in range(5):
        admit(account=f"guess{n}@example.com")

    with pytest.raises(RateLimited):
        admit(account="new@example.com")
    admit(account="new@example.com", address="198.51.100.8")


def test_concurrent_guesses_evaluate_at_most_the_limit():
    threads, barrier = 24, threading.Barrier(24)
    outcomes = []

    def guess():
        barrier.wait()
        try:
            admit(address=None)
        except RateLimited:
            outcomes.append("refused")
        else:
            outcomes.append("evaluated")

    workers = [threading.Thread(target=guess) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)

    assert outcomes.count("evaluated") == 3
    assert outcomes.count("refused") == threads - 3


def test_redis_down_skips_the_limit(settings):
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, REDIS_URL="redis://127.0.0.1:1/0")

    for _ in range(10):
        admit().succeeded()
