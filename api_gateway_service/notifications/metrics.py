"""The outbox's Prometheus metrics (served on the gateway's /metrics).

The counters move in whichever process refuses or parks a row (request workers or the relay);
the gauges are read from the database when /metrics is scraped, so they are right whichever
process parked the row and however many gateway workers there are.
"""

import logging

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

OUTBOX_REFUSED = Counter(
    "notification_outbox_refused",
    "Publishes of an outbox row that the broker refused (unroutable, nacked); outages are not counted.",
)
OUTBOX_PARKED = Counter(
    "notification_outbox_parked",
    "Outbox rows parked after OUTBOX_MAX_PUBLISH_ATTEMPTS refusals.",
)


class OutboxCollector:
    """``notification_outbox_parked_rows`` and ``notification_outbox_backlog_rows``, from the database."""

    def describe(self):
        return self._families()

    def collect(self):
        from notifications.selectors import outbox_backlog  # the app registry is ready by scrape time

        try:
            backlog = outbox_backlog()
        except Exception:  # a scrape during a database outage still serves the other metrics
            logger.warning("outbox metrics unavailable", exc_info=True)
            return []
        return self._families(backlog)

    @staticmethod
    def _families(backlog: dict | None = None):
        parked = GaugeMetricFamily(
            "notification_outbox_parked_rows", "Outbox rows set aside after repeated refusals, waiting for a replay."
        )
        pending = GaugeMetricFamily("notification_outbox_backlog_rows", "Outbox rows waiting to be published.")
        oldest = GaugeMetricFamily(
            "notification_outbox_oldest_age_seconds", "Age of the oldest outbox row waiting to be published."
        )
        if backlog is not None:
            parked.add_metric([], backlog["parked"])
            pending.add_metric([], backlog["backlog"])
            oldest.add_metric([], backlog["oldest_age_seconds"])
        return [parked, pending, oldest]


OUTBOX_COLLECTOR = OutboxCollector()
