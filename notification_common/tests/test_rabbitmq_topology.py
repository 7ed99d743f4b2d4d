"""The RabbitMQ topology: one declaration, idempotent, and the delay-queue tiers."""

from __future__ import annotations

import pytest

from notification_common.rabbitmq import (
    EMAIL_QUEUE,
    FAILED_QUEUE,
    PUSH_QUEUE,
    RETRY_TIERS,
    all_queues,
    declare_topology,
    delay_queue_for,
    queue_depths,
)

pytest_plugins = ["tests.rabbit_helpers"]


def test_declaring_the_topology_twice_is_harmless_and_creates_every_queue(broker):
    # Given a broker where the topology was already declared (by the fixture)
    # When it is declared again, twice
    declare_topology(broker.channel)
    declare_topology(broker.channel)
    # Then every queue exists, empty
    depths = queue_depths(broker.channel)
    assert set(depths) == set(all_queues())
    last_tier = f"push.queue.retry.{RETRY_TIERS}"
    assert {EMAIL_QUEUE, PUSH_QUEUE, FAILED_QUEUE, "email.queue.retry.1", last_tier} <= set(depths)
    assert all(depth == {"messages": 0, "consumers": 0} for depth in depths.values())


@pytest.mark.parametrize(
    ("delay", "base", "expected_tier"),
    [
        (0.0, 1.0, 1),
        (0.5, 1.0, 1),
        (1.0, 1.0, 1),  # base * 2**0 >= 1.0
        (1.01, 1.0, 2),
        (2.0, 1.0, 2),
        (3.0, 1.0, 3),
        (4.0, 1.0, 3),
        (300.0, 1.0, 10),  # 2**8 = 256 < 300 <= 512 = 2**9
        (10_000.0, 1.0, RETRY_TIERS),  # capped
        (0.15, 0.2, 1),
        (0.3, 0.2, 2),
        (5.0, 0.0, 1),  # degenerate base
    ],
)
def test_delay_queue_tier_is_the_smallest_whose_delay_covers_the_request(delay, base, expected_tier):
    # Given a retry delay and the consumer's backoff base
    # When the delay queue is chosen
    # Then it is the smallest tier i with base * 2**(i-1) >= delay, capped at RETRY_TIERS
    assert delay_queue_for(EMAIL_QUEUE, delay, base) == f"email.queue.retry.{expected_tier}"


def test_backoff_delays_of_one_attempt_land_in_one_tier():
    # Given jittered delays in [0.5, 1.0] * base * 2**(attempt-1) for attempt 3 (base 1 s)
    # When their delay queues are chosen
    tiers = {delay_queue_for(PUSH_QUEUE, d, 1.0) for d in (2.01, 2.5, 3.0, 3.5, 4.0)}
    # Then they share one tier (narrow band: bounded head-of-line blocking)
    assert tiers == {"push.queue.retry.3"}


def test_there_are_no_delay_queues_for_the_failed_queue():
    with pytest.raises(ValueError, match="no delay queues"):
        delay_queue_for(FAILED_QUEUE, 1.0, 1.0)
