"""The default retry policy, pinned: transient failures are retried for at least 24 hours,
5 s doubling up to a 10-minute cap, with no attempt cap (issue 12: a provider outage of
minutes to hours must not end in dead letters).

The consumer base owns the defaults (class attributes of BaseConsumer); the email and push
services pass their own settings (EMAIL_RETRY_*, PUSH_RETRY_*, read from the environment with
the same defaults), so both are checked: the base here, each service's consumer as its real
settings build it, in a process of its own with no retry variable in the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from notification_common.rabbitmq import EMAIL_QUEUE, BaseConsumer, ConsumedMessage, retrying_consumer

DAY = 24 * 3600.0
FIRST_DELAY = 5.0
CAP = 600.0
REPO = Path(__file__).resolve().parents[2]


class DefaultConsumer(BaseConsumer):
    """A work-queue consumer that sets nothing about retries."""

    queue = EMAIL_QUEUE

    def handle(self, message: ConsumedMessage) -> None:
        """Never called: nothing here consumes."""


class FixedJitter:
    """Stands in for the ``random`` module the retry delay draws its jitter factor from."""

    def __init__(self, pick: str):
        self.pick = pick

    def uniform(self, low: float, high: float) -> float:
        return high if self.pick == "high" else low


def _message(*, first_attempt_at: float, attempt: int = 2) -> ConsumedMessage:
    return ConsumedMessage(
        body={},
        raw=b"{}",
        headers={},
        attempt=attempt,
        message_id="m-1",
        request_id=None,
        routing_key=EMAIL_QUEUE,
        first_attempt_at=first_attempt_at,
    )


def test_a_consumer_built_with_defaults_retries_for_a_day_from_5_s_up_to_10_minutes():
    consumer = DefaultConsumer("amqp://unused")

    assert consumer.retry_budget_seconds >= DAY
    assert (consumer.retry_base_seconds, consumer.retry_max_seconds) == (FIRST_DELAY, CAP)
    assert consumer.max_attempts is None  # the budget alone decides


@pytest.mark.parametrize("pick, scale", [("high", 1.0), ("low", 0.5)])
def test_default_delays_start_at_5_s_double_and_stop_at_the_10_minute_cap(monkeypatch, pick, scale):
    # The jitter factor is drawn from [0.5, 1.0]: both ends of it
    monkeypatch.setattr(retrying_consumer, "random", FixedJitter(pick))
    consumer = DefaultConsumer("amqp://unused")

    delays = [consumer.retry_delay(attempt) for attempt in range(1, 11)]

    assert delays == [scale * d for d in (5, 10, 20, 40, 80, 160, 320, 600, 600, 600)]


def test_default_budget_keeps_a_transient_failure_retrying_for_24_hours_from_the_first_attempt():
    started = 1_800_000_000.0  # any instant: the budget counts from the message's first attempt
    now = {"t": started}
    consumer = DefaultConsumer("amqp://unused", clock=lambda: now["t"])

    now["t"] = started + DAY - 1
    assert consumer.is_final_attempt(_message(first_attempt_at=started, attempt=150)) is False
    now["t"] = started + consumer.retry_budget_seconds
    assert consumer.is_final_attempt(_message(first_attempt_at=started, attempt=151)) is True


# Each service's consumer as its management command builds it (push needs a service account
# file to exist; its contents do not matter here), printing what it will retry with.
_BUILD = {
    "email_service": "from emails.consumer import EmailConsumer\nconsumer = EmailConsumer()\n",
    "push_service": (
        "import os, tempfile\n"
        "from notification_devtools.loopback.service_account import write_service_account\n"
        "from pushes.consumer import build_push_consumer\n"
        "path = os.path.join(tempfile.mkdtemp(), 'service-account.json')\n"
        "write_service_account(path, token_uri='http://127.0.0.1:9/token')\n"
        "consumer = build_push_consumer(service_account_path=path)\n"
    ),
}
_PRINT = (
    "import json\n"
    "print(json.dumps([consumer.retry_budget_seconds, consumer.retry_base_seconds,"
    " consumer.retry_max_seconds, consumer.max_attempts]))\n"
)


@pytest.mark.parametrize("service", sorted(_BUILD))
def test_each_service_consumer_built_from_its_default_settings_uses_the_default_policy(service):
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("EMAIL_RETRY_", "PUSH_RETRY_", "EMAIL_MAX_ATTEMPTS", "PUSH_MAX_ATTEMPTS"))
    }
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    script = f"import django\ndjango.setup()\n{_BUILD[service]}{_PRINT}"

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO / service, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr[-2000:]
    budget, base, cap, max_attempts = json.loads(result.stdout.strip().splitlines()[-1])
    assert budget >= DAY
    assert (base, cap, max_attempts) == (FIRST_DELAY, CAP, None)
