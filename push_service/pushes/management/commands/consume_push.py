"""``manage.py consume_push``: run a PushConsumer on push.queue until SIGTERM/SIGINT."""

from django.core.management.base import BaseCommand, CommandError

from pushes.consumer import build_push_consumer, start_push_consumer


class Command(BaseCommand):
    help = "Consume push.queue: render, send through FCM, record and report each push."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, help="messages handled together (default PUSH_CONSUMER_BATCH_SIZE)"
        )
        parser.add_argument("--prefetch", type=int, help="unacked messages held (default PUSH_CONSUMER_PREFETCH)")
        parser.add_argument("--max-attempts", type=int, help="attempts before failed.queue (default PUSH_MAX_ATTEMPTS)")
        parser.add_argument("--max-messages", type=int, help="stop after this many messages (benchmarks, tests)")
        parser.add_argument("--idle-timeout", type=float, help="stop after this many idle seconds")
        parser.add_argument("--name", help="consumer name shown in logs and the broker")

    def handle(self, *args, **options):
        for option in ("batch_size", "prefetch", "max_attempts", "max_messages"):
            if options[option] is not None and options[option] < 1:
                raise CommandError(f"--{option.replace('_', '-')} must be at least 1")
        if options["idle_timeout"] is not None and options["idle_timeout"] <= 0:
            raise CommandError("--idle-timeout must be positive")
        try:
            consumer = build_push_consumer(
                batch_size=options["batch_size"],
                prefetch_count=options["prefetch"],
                max_attempts=options["max_attempts"],
                name=options["name"],
            )
        except (OSError, ValueError) as exc:  # e.g. the service-account file is missing or invalid
            raise CommandError(f"cannot set up FCM: {exc}") from exc
        consumer.install_signal_handlers()
        try:
            start_push_consumer(consumer)
            self.stdout.write(f"consuming push.queue as {consumer.name}")
            settled = consumer.run(max_messages=options["max_messages"], idle_timeout=options["idle_timeout"])
        finally:
            consumer.close()
        self.stdout.write(f"stopped after {settled} message(s)")
