"""Fixtures and helpers for the RabbitMQ tests (real broker, dedicated vhost).

(pika itself is imported only by notification_common.rabbitmq.)
Loaded by the test modules with ``pytest_plugins = ["tests.rabbit_helpers"]``.

The tests run in the vhost ``notifications_test`` (created with rabbitmqctl when
missing) so they never touch a running dev stack; override the URL with
``TEST_RABBITMQ_URL``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.parse

import pytest

from notification_common.rabbitmq import all_queues, connect, declare_topology

TEST_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/notifications_test")


def _vhost_of(url: str) -> str:
    path = urllib.parse.urlparse(url).path
    return urllib.parse.unquote(path[1:]) if len(path) > 1 else "/"


def _create_vhost(vhost: str) -> None:
    """Create the vhost and grant guest on it; already existing is fine."""
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        return
    subprocess.run([rabbitmqctl, "-q", "add_vhost", vhost], capture_output=True, timeout=60, check=False)
    subprocess.run(
        [rabbitmqctl, "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="session")
def rabbit_url() -> str:
    """The test vhost's URL, with the vhost created and the topology declared."""
    try:
        connection = connect(TEST_URL)
    except Exception:  # noqa: BLE001 - vhost missing (or broker down): create it, retry once
        _create_vhost(_vhost_of(TEST_URL))
        try:
            connection = connect(TEST_URL, connection_attempts=3)
        except Exception as exc:  # noqa: BLE001 - no broker: skip rather than fail
            pytest.skip(f"RabbitMQ test vhost not reachable at {TEST_URL}: {exc!r}")
    try:
        declare_topology(connection.channel())
    finally:
        connection.close()
    return TEST_URL


class Broker:
    """Test-side view of the test vhost: one channel plus small inspection helpers."""

    def __init__(self, channel):
        self.channel = channel

    def ready(self, queue: str) -> int:
        """Messages ready in ``queue`` (unacked ones are not counted)."""
        return self.channel.queue_declare(queue=queue, passive=True).method.message_count

    def get(self, queue: str, timeout: float = 5.0):
        """basic_get (auto-ack) until a message arrives: (method, properties, body), or None."""
        deadline = time.monotonic() + timeout
        while True:
            method, properties, body = self.channel.basic_get(queue, auto_ack=True)
            if method is not None:
                return method, properties, body
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def drain(self, queue: str) -> list[tuple]:
        """Every message currently ready in ``queue`` (auto-acked), in order."""
        messages = []
        while True:
            method, properties, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                return messages
            messages.append((method, properties, body))


@pytest.fixture
def broker(rabbit_url):
    """A :class:`Broker` on the test vhost; every topology queue is purged before the test."""
    connection = connect(rabbit_url)
    channel = connection.channel()
    declare_topology(channel)
    for name in all_queues():
        channel.queue_purge(name)
    yield Broker(channel)
    if connection.is_open:
        connection.close()
