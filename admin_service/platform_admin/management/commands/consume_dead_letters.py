from django.core.management.base import BaseCommand

from platform_admin.consumer import DeadLetterConsumer


class Command(BaseCommand):
    help = "Move every message of failed.queue into the dead letter table (stops cleanly on SIGTERM)."

    def add_arguments(self, parser):
        parser.add_argument("--prefetch", type=int, default=None, help="unacked messages held at once")
        parser.add_argument("--max-messages", type=int, default=None, help="stop after storing this many")
        parser.add_argument("--idle-timeout", type=float, default=None, help="stop after this many idle seconds")

    def handle(self, *args, prefetch, max_messages, idle_timeout, **options):
        consumer = DeadLetterConsumer(prefetch_count=prefetch)
        consumer.install_signal_handlers()
        stored = consumer.run(max_messages=max_messages, idle_timeout=idle_timeout)
        self.stdout.write(f"stored {stored} dead letter(s)")
