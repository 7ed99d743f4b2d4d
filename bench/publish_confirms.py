"""Publish rate with confirms: Publisher.publish (one confirm wait per message) against
Publisher.publish_batch (confirms awaited together) at several batch sizes.

Publishes small persistent JSON messages to a private durable queue (through the default
exchange, mandatory, as the platform publishes), purged between runs and deleted at the end,
and prints messages/s for each way. Needs only RabbitMQ (`make infra`).

    .venv/bin/python bench/publish_confirms.py [--messages 5000] [--batch-sizes 10,100,1000]
"""

from __future__ import annotations

import argparse
import os
import time

from notification_common.rabbitmq import Publisher, connect, default_url


def body(n: int) -> dict:
    return {"schema": 1, "notification_id": f"bench-{n}", "to": f"user{n}@example.com", "variables": {"n": n}}


def one_by_one(publisher: Publisher, queue: str, messages: int) -> float:
    started = time.perf_counter()
    for n in range(messages):
        publisher.publish(queue, body(n), exchange="", message_id=f"m-{n}")
    return messages / (time.perf_counter() - started)


def in_batches(publisher: Publisher, queue: str, messages: int, batch_size: int) -> float:
    items = [(queue, body(n), {"exchange": "", "message_id": f"m-{n}"}) for n in range(messages)]
    started = time.perf_counter()
    for start in range(0, messages, batch_size):
        outcomes = publisher.publish_batch(items[start : start + batch_size])
        if not all(outcome.published for outcome in outcomes):
            raise SystemExit(f"not published: {next(o for o in outcomes if not o.published)}")
    return messages / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=default_url(), help="broker URL (default $RABBITMQ_URL)")
    parser.add_argument("--messages", type=int, default=5000, help="messages per run (default 5000)")
    parser.add_argument("--batch-sizes", default="10,100,1000", help="comma-separated (default 10,100,1000)")
    args = parser.parse_args()
    batch_sizes = [int(size) for size in args.batch_sizes.split(",") if size.strip()]

    queue = f"bench.publish_confirms.{os.getpid()}"
    admin = connect(args.url)
    channel = admin.channel()
    channel.queue_declare(queue, durable=True)
    rows: list[tuple[str, float]] = []
    try:
        with Publisher(args.url, connection_name="bench-publish-confirms") as publisher:
            publisher.publish(queue, body(-1), exchange="")  # connection and channel opened before timing
            publisher.publish_batch([(queue, body(-1), {"exchange": ""})])
            channel.queue_purge(queue)
            rows.append(("publish, one by one", one_by_one(publisher, queue, args.messages)))
            for size in batch_sizes:
                channel.queue_purge(queue)
                rows.append((f"publish_batch, {size} a batch", in_batches(publisher, queue, args.messages, size)))
    finally:
        channel.queue_delete(queue)
        admin.close()

    print(f"{args.messages} persistent messages a run, one private durable queue")
    print(f"{'way':<28} {'messages/s':>12}")
    for way, rate in rows:
        print(f"{way:<28} {rate:>12,.0f}")


if __name__ == "__main__":
    main()
