"""SIGTERM while ``manage.py consume_emails`` is in the middle of a batch loses nothing."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from emails.constants import DeliveryStatus
from emails.models import EmailNotification
from emails.tests.conftest import wait_until
from notification_common.rabbitmq import EMAIL_QUEUE, FAILED_QUEUE
from notification_devtools.testing.rabbit import drain

pytestmark = pytest.mark.django_db(transaction=True)

SERVICE_DIR = Path(__file__).resolve().parents[2]


def test_sigterm_mid_batch_finishes_the_batch_and_leaves_the_rest_queued(
    consumer_process_env, publish_email, smtp_server, template_service, rabbit_channel
):
    # Given 12 messages, and a consumer process whose batches of 4 take about a second
    # (each render waits 0.25 s at the template service)
    bodies = [
        publish_email(recipient={"email": f"u{n}@example.com"}, variables={"name": f"U{n}", "link": "x"})
        for n in range(12)
    ]
    template_service.delay_seconds = 0.25
    env = {**consumer_process_env, "EMAIL_RENDER_CONCURRENCY": "1"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "consume_emails", "--batch-size", "4", "--prefetch", "12"],
        cwd=SERVICE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # When SIGTERM arrives while the first batch is being rendered
        wait_until(lambda: len(template_service.calls) >= 1 or process.poll() is not None, timeout=20)
        assert process.poll() is None, process.stdout.read().decode()
        process.send_signal(signal.SIGTERM)
        # Then the process exits cleanly within a few seconds
        assert process.wait(timeout=15) == 0, process.stdout.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    # ... the batch in hand was delivered and acked, and the other messages wait in the queue
    delivered = {str(d.notification_id) for d in EmailNotification.objects.filter(status=DeliveryStatus.DELIVERED)}
    assert 1 <= len(delivered) <= 4  # one batch (normally all 4; fewer if they arrived apart)
    assert {m.notification_id for m in smtp_server.messages} == delivered
    remaining = {body["notification_id"] for body, _ in drain(rabbit_channel, EMAIL_QUEUE)}
    assert remaining == {b["notification_id"] for b in bodies} - delivered
    assert drain(rabbit_channel, FAILED_QUEUE) == []
    assert not EmailNotification.objects.exclude(status=DeliveryStatus.DELIVERED).exists()
