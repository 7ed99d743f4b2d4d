"""RabbitMQ helpers for tests: purge the topology, read what a queue holds."""

import json

from notification_common.rabbitmq import all_queues


def purge_topology(channel) -> None:
    for name in all_queues():
        channel.queue_purge(name)


def drain(channel, queue: str, *, limit: int = 10_000) -> list[tuple[dict, object]]:
    """Take (and ack) every message now in ``queue``: [(json body or raw bytes, properties)]."""
    taken = []
    while len(taken) < limit:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        try:
            payload = json.loads(body)
        except ValueError:
            payload = body
        taken.append((payload, properties))
    return taken
