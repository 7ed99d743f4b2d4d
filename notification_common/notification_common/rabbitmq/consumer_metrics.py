"""/metrics of a consumer, served by its service's HTTP process from the consumer's heartbeat.

The consumer (``manage.py consume_*``) is another process with no HTTP endpoint of its own;
it writes its state (paused, on which dependency, oldest waiting message) into its Redis
heartbeat, and this collector turns that into gauges when /metrics is scraped, the same
under one process or gunicorn's workers. No pika here: the HTTP process never consumes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client.core import GaugeMetricFamily

__all__ = ["ConsumerStateCollector"]

logger = logging.getLogger("notification_common.rabbitmq")


class ConsumerStateCollector:
    """Gauges from ``read_heartbeat()``: a dict with ``age_seconds`` and the consumer's state
    (``paused``, ``dependency``, ``oldest_message_age_seconds``), or None without a heartbeat."""

    def __init__(self, queue: str, read_heartbeat: Callable[[], dict | None]):
        self.queue = queue
        self.read_heartbeat = read_heartbeat

    def _families(self):
        return (
            GaugeMetricFamily(
                "notification_consumer_paused",
                "1 while the queue's consumer is paused because a dependency's circuit is open "
                "(from the consumer's heartbeat).",
                labels=["queue", "dependency"],
            ),
            GaugeMetricFamily(
                "notification_consumer_oldest_message_age_seconds",
                "Age of the oldest message waiting for the queue's consumer, as the consumer last saw it.",
                labels=["queue"],
            ),
            GaugeMetricFamily(
                "notification_consumer_heartbeat_age_seconds",
                "Seconds since the queue's consumer last wrote its heartbeat.",
                labels=["queue"],
            ),
        )

    def describe(self):
        return list(self._families())

    def collect(self):
        paused, oldest, heartbeat = self._families()
        try:
            beat = self.read_heartbeat()
        except Exception:  # noqa: BLE001 - Redis down: /metrics still answers, without these
            logger.debug("could not read the consumer heartbeat for /metrics", exc_info=True)
            beat = None
        if beat:
            dependency = beat.get("dependency") or ""
            paused.add_metric([self.queue, dependency], 1.0 if beat.get("paused") else 0.0)
            oldest.add_metric([self.queue], float(beat.get("oldest_message_age_seconds") or 0.0))
            if beat.get("age_seconds") is not None:
                heartbeat.add_metric([self.queue], float(beat["age_seconds"]))
        return [paused, oldest, heartbeat]
