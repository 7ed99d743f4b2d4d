"""``manage.py consume_emails`` only parses its options and runs the EmailConsumer."""

import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.parametrize("option", ["--max-attempts", "--prefetch", "--batch-size"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_non_positive_numbers_are_refused(option, value):
    with pytest.raises(CommandError, match="positive integer"):
        call_command("consume_emails", option, value, stdout=StringIO())


def test_options_reach_the_consumer(monkeypatch, tmp_path, caplog):
    from emails.management.commands import consume_emails

    seen = {}

    class RecordingConsumer(consume_emails.EmailConsumer):
        def install_signal_handlers(self):
            seen["signals"] = True

        def run(self, **kwargs):
            seen.update(
                max_attempts=self.max_attempts,
                prefetch=self.prefetch_count,
                batch=self.batch_size,
                heartbeat=self.heartbeat_path,
            )
            return 0

    monkeypatch.setattr(consume_emails, "EmailConsumer", RecordingConsumer)
    caplog.set_level(logging.INFO, logger=consume_emails.__name__)
    out = StringIO()
    heartbeat = str(tmp_path / "beat")

    call_command(
        "consume_emails",
        "--max-attempts",
        "3",
        "--prefetch",
        "80",
        "--batch-size",
        "40",
        "--heartbeat-file",
        heartbeat,
        stdout=out,
    )

    assert seen == {"signals": True, "max_attempts": 3, "prefetch": 80, "batch": 40, "heartbeat": heartbeat}
    assert "stopped after 0 messages" in caplog.text
