"""``manage.py relay_outbox``: publish the outbox rows the after-commit publish left behind,
and scheduled rows (``send_at``) once they are due: this loop is the scheduler, so no other
process is needed (docs/api_gateway.md, "Scheduled sends"). Keep --interval well under 2 s.

Safe to run several at once (rows are taken with FOR UPDATE SKIP LOCKED). Stops cleanly on
SIGTERM/SIGINT after the batch in hand. A row the broker refuses is retried with its own
backoff and parked after OUTBOX_MAX_PUBLISH_ATTEMPTS; the rows behind it keep flowing
(docs/api_gateway.md, "Parked rows"). A broker outage stops the round and parks nothing.
"""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from notification_common.conf import common_settings
from notification_common.rabbitmq import connect, declare_topology
from notifications.services.outbox import outbox_relay_batch

logger = logging.getLogger("notifications.relay")

MAX_BACKOFF_SECONDS = 10.0


def _positive(kind, name):
    def parse(raw):
        try:
            value = kind(raw)
        except ValueError:
            raise CommandError(f"--{name} must be a number, got {raw!r}") from None
        if value < 0:
            raise CommandError(f"--{name} must not be negative, got {raw!r}")
        return value

    return parse


class Command(BaseCommand):
    help = "Publish due scheduled and unpublished outbox rows to RabbitMQ, oldest first (loop, or --once)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="relay what is due now, then exit")
        parser.add_argument("--interval", type=_positive(float, "interval"), default=None)
        parser.add_argument("--batch-size", type=_positive(int, "batch-size"), default=None)
        parser.add_argument("--grace-seconds", type=_positive(float, "grace-seconds"), default=None)

    def handle(self, *args, once=False, interval=None, batch_size=None, grace_seconds=None, **options):
        interval = settings.OUTBOX_RELAY_INTERVAL_SECONDS if interval is None else interval
        batch_size = settings.OUTBOX_RELAY_BATCH_SIZE if batch_size is None else batch_size
        grace = settings.OUTBOX_RELAY_GRACE_SECONDS if grace_seconds is None else grace_seconds
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        self._stop = threading.Event()
        self._topology_declared = False

        if once:
            try:
                total = self._drain(batch_size=batch_size, grace=grace)
            except RelayPublishFailed as exc:
                raise CommandError(f"publishing failed, rows left for the next run: {exc}") from exc
            self.stdout.write(f"relayed {total} message(s)")
            return

        previous = {signum: signal.signal(signum, self._request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._loop(interval=interval, batch_size=batch_size, grace=grace)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _loop(self, *, interval: float, batch_size: int, grace: float) -> None:
        logger.info("outbox relay started", extra={"interval": interval, "batch_size": batch_size, "grace": grace})
        backoff = interval
        while not self._stop.is_set():
            close_old_connections()
            try:
                self._drain(batch_size=batch_size, grace=grace)
                backoff = interval
            except RelayPublishFailed as exc:
                logger.warning("broker unavailable; the relay will retry", extra={"error": str(exc)})
                backoff = min(max(backoff * 2, interval, 0.5), MAX_BACKOFF_SECONDS)
            except Exception:  # a database failure must not end the relay either
                logger.exception("outbox relay round failed")
                backoff = min(max(backoff * 2, interval, 0.5), MAX_BACKOFF_SECONDS)
            self._stop.wait(backoff)
        logger.info("outbox relay stopped")

    def _request_stop(self, signum, frame):
        self._stop.set()

    def _drain(self, *, batch_size: int, grace: float) -> int:
        """Relay batches until nothing is due, the broker is unreachable, or a stop is requested."""
        total = 0
        while not self._stop.is_set():
            if not self._topology_declared:
                self._declare_topology()
            result = outbox_relay_batch(batch_size=batch_size, grace_seconds=grace)
            total += result.published
            if result.published or result.refused:
                logger.info(
                    "outbox relayed",
                    extra={"published": result.published, "refused": result.refused, "parked": result.parked},
                )
            if result.refused:
                # An unroutable row may only mean a queue was deleted: declare the topology
                # again before any row is tried again, so that never parks good rows.
                self._topology_declared = False
            if result.error:
                self._topology_declared = False  # the broker may have come back without it
                raise RelayPublishFailed(result.error)
            if result.taken < batch_size:
                break
        return total

    def _declare_topology(self) -> None:
        # The relay publishes with `mandatory`: without the queues every message is unroutable.
        # Declaring is idempotent (one topology module), so it is redone after every failure.
        try:
            connection = connect(common_settings.RABBITMQ_URL, heartbeat=0)
            try:
                declare_topology(connection.channel())
            finally:
                connection.close()
        except Exception as exc:  # the broker may be down; publishing will say so too
            logger.warning("could not declare the RabbitMQ topology: %s", exc)
        else:
            self._topology_declared = True


class RelayPublishFailed(Exception):
    pass
