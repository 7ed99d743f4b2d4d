"""``manage.py consume_emails``: run the EmailConsumer until SIGTERM/SIGINT."""

import logging

from django.core.management.base import BaseCommand, CommandError

from emails.consumer import EmailConsumer

logger = logging.getLogger(__name__)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise CommandError(f"expected a positive integer, got {value!r}")
    return number


class Command(BaseCommand):
    help = "Consume email.queue: render, send by SMTP, record, report (stops cleanly on SIGTERM)."

    def add_arguments(self, parser):
        parser.add_argument("--max-attempts", type=str, help="attempts before failed.queue (EMAIL_MAX_ATTEMPTS)")
        parser.add_argument("--prefetch", type=str, help="unacked messages held (EMAIL_CONSUMER_PREFETCH)")
        parser.add_argument("--batch-size", type=str, help="messages handled together (EMAIL_CONSUMER_BATCH_SIZE)")
        parser.add_argument("--heartbeat-file", help="also touch this file on every turn of the loop")

    def handle(self, *args, **options):
        kwargs = {}
        for option, name in (
            ("max_attempts", "max_attempts"),
            ("prefetch", "prefetch_count"),
            ("batch_size", "batch_size"),
        ):
            if options.get(option) is not None:
                kwargs[name] = _positive(options[option])
        if options.get("heartbeat_file"):
            kwargs["heartbeat_path"] = options["heartbeat_file"]
        consumer = EmailConsumer(**kwargs)
        consumer.install_signal_handlers()
        # Log lines (JSON on stdout), like everything else the process prints.
        logger.info("consume_emails: consuming %s (batch %d)", consumer.queue, consumer.batch_size)
        settled = consumer.run()
        logger.info("consume_emails: stopped after %d messages", settled)
