"""The whole RabbitMQ topology of the platform, declared in exactly one place.

Every service declares the topology through :func:`declare_topology`, so a queue is
never declared with different arguments in two places (RabbitMQ answers that with
PRECONDITION_FAILED and closes the channel).

Layout::

    notifications.direct (direct, durable)
        --email.queue-->  email.queue
        --push.queue-->   push.queue
        --failed.queue--> failed.queue          (dead letters: error + history in headers)

    default exchange --email.queue.retry.N--> email.queue.retry.N   (N = 1..RETRY_TIERS)
        each delay queue dead-letters expired messages back to
        notifications.direct with routing key email.queue (same for push.queue)

Retries are delayed by publishing to a delay queue with a per-message ``expiration``
(never by sleeping in a consumer, never by requeueing in a hot loop).  The delay
queues carry no ``x-message-ttl``, so changing the backoff configuration never
changes queue arguments.  A delay longer than the tiers hold (:func:`delay_tier_limit`)
goes through the top tier more than once: the consumer carries the due time in
``x-retry-not-before`` and sends a message that came back early round again without
handling it (docs/operations.md, "Retries").

``RABBITMQ_QUEUE_TYPE=quorum`` (default ``classic``) declares every queue as a quorum
queue (replicated on a RabbitMQ cluster), the delay queues with at-least-once
dead-lettering.  A vhost cannot switch in place: docs/operations.md, "Quorum queues".
"""

from __future__ import annotations

import argparse
import os
import sys

from notification_common.conf import DEFAULT_RABBITMQ_URL

DEFAULT_URL = DEFAULT_RABBITMQ_URL  # the same vhost as the services' settings (conf.py)

EXCHANGE = "notifications.direct"
EMAIL_QUEUE = "email.queue"
PUSH_QUEUE = "push.queue"
FAILED_QUEUE = "failed.queue"
# Dead letters that could not be stored even in a reduced form (StoringConsumer): kept as they
# are, for an operator to look at; nothing consumes them.
FAILED_PARKED_QUEUE = "failed.parked.queue"
WORK_QUEUES = (EMAIL_QUEUE, PUSH_QUEUE)
RETRY_TIERS = 10
QUEUE_TYPES = ("classic", "quorum")
DEFAULT_QUEUE_TYPE = "classic"

__all__ = [
    "DEFAULT_QUEUE_TYPE",
    "DEFAULT_URL",
    "EMAIL_QUEUE",
    "EXCHANGE",
    "FAILED_PARKED_QUEUE",
    "FAILED_QUEUE",
    "PUSH_QUEUE",
    "QUEUE_TYPES",
    "RETRY_TIERS",
    "TopologyMismatchError",
    "WORK_QUEUES",
    "all_queues",
    "declare_topology",
    "declare_topology_from_url",
    "default_url",
    "delay_queue_for",
    "delay_queue_name",
    "delay_tier_limit",
    "delay_queues",
    "queue_depths",
    "queue_depths_from_url",
    "queue_type",
]


def default_url() -> str:
    """The broker URL: ``$RABBITMQ_URL`` or the local default."""
    return os.environ.get("RABBITMQ_URL") or DEFAULT_URL


def queue_type() -> str:
    """The queue type to declare: ``$RABBITMQ_QUEUE_TYPE`` (``classic`` or ``quorum``)."""
    value = (os.environ.get("RABBITMQ_QUEUE_TYPE") or DEFAULT_QUEUE_TYPE).strip().lower()
    if value not in QUEUE_TYPES:
        raise ValueError(f"RABBITMQ_QUEUE_TYPE must be one of {', '.join(QUEUE_TYPES)}, got {value!r}")
    return value


class TopologyMismatchError(RuntimeError):
    """The broker already holds a queue of the topology with other arguments (PRECONDITION_FAILED).

    Not a pika error on purpose: consumers reconnect on broker errors, but this one is a
    configuration mistake that no reconnect fixes, so it ends the process with this message.
    """


def delay_queue_name(work_queue: str, tier: int) -> str:
    return f"{work_queue}.retry.{tier}"


def delay_queues(work_queue: str) -> list[str]:
    """All delay queues of one work queue, tier 1 first."""
    return [delay_queue_name(work_queue, tier) for tier in range(1, RETRY_TIERS + 1)]


def all_queues() -> list[str]:
    """Every queue of the topology: work queues, failed.queue, failed.parked.queue, then the delay queues."""
    names = [*WORK_QUEUES, FAILED_QUEUE, FAILED_PARKED_QUEUE]
    for work_queue in WORK_QUEUES:
        names.extend(delay_queues(work_queue))
    return names


def delay_tier_limit(base_seconds: float) -> float:
    """The longest delay one pass through the delay tiers holds: ``base * 2**(RETRY_TIERS-1)``
    (2560 s with a 5 s base).  A consumer wanting longer publishes to the top tier with
    this expiration and re-queues the message when it comes back early."""
    if base_seconds <= 0:
        return float("inf")
    return base_seconds * 2 ** (RETRY_TIERS - 1)


def delay_queue_for(work_queue: str, delay_seconds: float, base_seconds: float) -> str:
    """The delay queue that should hold a retry of ``work_queue`` due in ``delay_seconds``.

    Tier ``i`` is the smallest ``i`` with ``base_seconds * 2**(i-1) >= delay_seconds``
    (capped at RETRY_TIERS).

    Why tiers: a per-message TTL only expires at the head of a queue, so a message with
    a long delay would hold back a shorter one queued behind it (head-of-line
    blocking).  With tiers, the messages of one tier have delays in a narrow band
    (tier i holds delays in (base * 2**(i-2), base * 2**(i-1)], a factor of two), so a
    message is late by at most the spread of its own tier -- less than its own delay.
    The consumer never puts a delay beyond :func:`delay_tier_limit` into the top tier (it
    splits a longer one into passes), so the top tier keeps the same factor-of-two band.
    """
    if work_queue not in WORK_QUEUES:
        raise ValueError(f"no delay queues for {work_queue!r}; expected one of {WORK_QUEUES}")
    tier = 1
    if base_seconds > 0:
        while tier < RETRY_TIERS and base_seconds * 2 ** (tier - 1) < delay_seconds:
            tier += 1
    return delay_queue_name(work_queue, tier)


def declare_topology(channel, *, queue_type_name: str | None = None) -> None:
    """Declare the exchange, queues, bindings and delay queues.  Idempotent.

    ``queue_type_name`` defaults to :func:`queue_type` (``$RABBITMQ_QUEUE_TYPE``).  Raises
    :class:`TopologyMismatchError` when a queue exists with other arguments (e.g. classic
    queues in a vhost now configured for quorum); the channel is closed by then.
    """
    import pika.exceptions

    kind = queue_type_name or queue_type()
    if kind not in QUEUE_TYPES:
        raise ValueError(f"queue type must be one of {', '.join(QUEUE_TYPES)}, got {kind!r}")
    # Classic: no x-queue-type argument at all (the broker default), so the declaration
    # stays equivalent to the ones made before the setting existed.
    type_arguments = {"x-queue-type": "quorum"} if kind == "quorum" else {}

    def declare(name: str, arguments: dict) -> None:
        try:
            channel.queue_declare(queue=name, durable=True, arguments=arguments or None)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 406:  # PRECONDITION_FAILED
                raise
            raise TopologyMismatchError(
                f"RabbitMQ refused to declare queue {name!r} as a {kind} queue (RABBITMQ_QUEUE_TYPE={kind}): "
                f"{exc.reply_text}. The vhost already holds that queue with other arguments; a queue "
                "cannot change type in place. Use a new vhost (or drain the old one and delete its "
                'queues) as described in docs/operations.md, "Quorum queues".'
            ) from exc

    channel.exchange_declare(exchange=EXCHANGE, exchange_type="direct", durable=True)
    for name in (*WORK_QUEUES, FAILED_QUEUE, FAILED_PARKED_QUEUE):
        declare(name, dict(type_arguments))
        channel.queue_bind(queue=name, exchange=EXCHANGE, routing_key=name)
    for work_queue in WORK_QUEUES:
        for name in delay_queues(work_queue):
            # Published to through the default exchange (routing key = queue name);
            # no x-message-ttl: the per-message `expiration` carries the delay.
            arguments = {
                **type_arguments,
                "x-dead-letter-exchange": EXCHANGE,
                "x-dead-letter-routing-key": work_queue,
            }
            if kind == "quorum":
                # At-least-once dead-lettering (RabbitMQ 3.10+): an expired retry is kept
                # until the work queue confirms it, instead of being dropped if the move
                # fails. The broker requires reject-publish overflow for it.
                arguments["x-dead-letter-strategy"] = "at-least-once"
                arguments["x-overflow"] = "reject-publish"
            declare(name, arguments)


def declare_topology_from_url(url: str | None = None) -> list[str]:
    """Open a connection, declare the topology, close.  Returns the declared queue names."""
    from notification_common.rabbitmq.connection import connect

    connection = connect(url, connection_attempts=3)
    try:
        declare_topology(connection.channel())
    finally:
        if connection.is_open:
            connection.close()
    return all_queues()


def queue_depths(channel) -> dict[str, dict]:
    """``{queue: {"messages": ready, "consumers": n}}`` for every queue of the topology.

    Uses passive declares, so it never creates anything; if a queue is missing the
    broker closes the channel and pika raises ChannelClosedByBroker (404).
    """
    depths: dict[str, dict] = {}
    for name in all_queues():
        result = channel.queue_declare(queue=name, passive=True)
        depths[name] = {"messages": result.method.message_count, "consumers": result.method.consumer_count}
    return depths


def queue_depths_from_url(url: str | None = None) -> dict[str, dict]:
    """:func:`queue_depths` on a connection of its own."""
    from notification_common.rabbitmq.connection import connect

    connection = connect(url)
    try:
        return queue_depths(connection.channel())
    finally:
        if connection.is_open:
            connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m notification_common.rabbitmq.topology",
        description="Declare the notification RabbitMQ topology (idempotent).",
    )
    parser.add_argument("--url", default=None, help="broker URL (default: $RABBITMQ_URL or local guest)")
    parser.add_argument("--depths", action="store_true", help="also print queue depths")
    args = parser.parse_args(argv)
    url = args.url or default_url()
    queues = declare_topology_from_url(url)
    print(f"exchange {EXCHANGE} (direct, durable)")
    for name in queues:
        print(f"queue {name}")
    if args.depths:
        for name, depth in queue_depths_from_url(url).items():
            print(f"{name}: {depth['messages']} ready, {depth['consumers']} consumers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
