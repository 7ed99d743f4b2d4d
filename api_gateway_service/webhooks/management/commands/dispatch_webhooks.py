"""``manage.py dispatch_webhooks``: read final statuses from the user service after the
cursor, owe them to the senders' webhook endpoints, and POST what is due, with retries
(docs/api_gateway.md, "Status webhooks").

Safe to run several at once: the cursor and due deliveries are taken FOR UPDATE SKIP LOCKED,
and a delivery in flight is leased. Stops cleanly on SIGTERM/SIGINT after the POST in hand.
"""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from webhooks.services import webhook_deliveries_send_due, webhook_status_poll

logger = logging.getLogger("webhooks.dispatcher")

MAX_BACKOFF_SECONDS = 30.0


def _interval(raw):
    try:
        value = float(raw)
    except ValueError:
        raise CommandError(f"--interval must be a number, got {raw!r}") from None
    if not value > 0:
        raise CommandError(f"--interval must be positive, got {raw!r}")
    return value


class Command(BaseCommand):
    help = "Turn final statuses into signed webhook POSTs and send them with retries (loop, or --once)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="read and send what is due now, then exit")
        parser.add_argument("--interval", type=_interval, default=None)

    def handle(self, *args, once=False, interval=None, **options):
        interval = settings.WEBHOOK_POLL_INTERVAL_SECONDS if interval is None else interval
        self._stop = threading.Event()
        if once:
            read, sent = self._round()
            self.stdout.write(f"read {read} status event(s), made {sent} delivery attempt(s)")
            return
        previous = {signum: signal.signal(signum, self._request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._loop(interval)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _request_stop(self, signum, frame):
        self._stop.set()

    def _loop(self, interval: float) -> None:
        logger.info("webhook dispatcher started", extra={"interval": interval})
        backoff = interval
        while not self._stop.is_set():
            close_old_connections()
            try:
                self._round()
                backoff = interval
            except Exception:  # the user service or the database down must not end the loop
                logger.exception("webhook dispatcher round failed")
                backoff = min(max(backoff * 2, interval), MAX_BACKOFF_SECONDS)
            self._stop.wait(backoff)
        logger.info("webhook dispatcher stopped")

    def _round(self) -> tuple[int, int]:
        read = sent = 0
        # Sending does not wait on reading: a user service outage still lets retries go out.
        try:
            while not self._stop.is_set():
                page = webhook_status_poll()
                read += page
                if page < settings.WEBHOOK_STATUS_PAGE_SIZE:
                    break
        finally:
            while not self._stop.is_set():
                batch = webhook_deliveries_send_due()
                sent += len(batch)
                if len(batch) < settings.WEBHOOK_SEND_BATCH_SIZE:
                    break
        if read or sent:
            logger.info("webhooks dispatched", extra={"events_read": read, "attempts": sent})
        return read, sent
