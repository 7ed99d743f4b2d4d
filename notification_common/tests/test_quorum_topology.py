"""RABBITMQ_QUEUE_TYPE=quorum on the real broker: quorum queues, retries through them, clear errors.

Every test that declares quorum queues does it in a vhost of its own
(``<test vhost>_quorum``), created here and deleted afterwards: a vhost holds either the
classic or the quorum topology, never both (PRECONDITION_FAILED).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse

import pytest

from notification_common.rabbitmq import (
    EMAIL_QUEUE,
    EXCHANGE,
    FAILED_QUEUE,
    BaseConsumer,
    Publisher,
    TransientError,
    all_queues,
    connect,
)
from notification_common.rabbitmq.topology import (
    TopologyMismatchError,
    declare_topology,
    delay_queue_name,
    queue_type,
)
from notification_common.vhosts import ensure_vhost, vhost_of
from notification_devtools.testing.waiting import wait_until

pytest_plugins = ["tests.rabbit_helpers"]

RABBITMQCTL = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"


def _rabbitmqctl(*args: str) -> str:
    result = subprocess.run([RABBITMQCTL, "-q", *args], capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


def queue_types(vhost: str) -> dict[str, str]:
    """``{queue: type}`` as ``rabbitmqctl list_queues -p <vhost> name type`` reports them."""
    output = _rabbitmqctl("list_queues", "-p", vhost, "--no-table-headers", "name", "type")
    return dict(line.split("\t") for line in output.splitlines() if line.strip())


@pytest.fixture
def quorum_url(rabbit_url):
    """A fresh vhost next to the test vhost, deleted after the test."""
    if not shutil.which(RABBITMQCTL):
        pytest.skip("rabbitmqctl is needed to create and inspect a vhost of our own")
    parsed = urllib.parse.urlparse(rabbit_url)
    vhost = f"{vhost_of(rabbit_url)}_quorum"
    url = urllib.parse.urlunparse(parsed._replace(path="/" + urllib.parse.quote(vhost, safe="")))
    if vhost in _rabbitmqctl("list_vhosts", "name").split():  # left over by an interrupted run
        _rabbitmqctl("delete_vhost", vhost)
    ensure_vhost(url)
    yield url
    _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def quorum_channel(quorum_url):
    connection = connect(quorum_url)
    channel = connection.channel()
    declare_topology(channel, queue_type_name="quorum")
    yield channel
    if connection.is_open:
        connection.close()


# -- the setting -------------------------------------------------------------------------


def test_queue_type_defaults_to_classic(monkeypatch):
    monkeypatch.delenv("RABBITMQ_QUEUE_TYPE", raising=False)
    assert queue_type() == "classic"


def test_queue_type_reads_the_environment_case_insensitively(monkeypatch):
    monkeypatch.setenv("RABBITMQ_QUEUE_TYPE", " Quorum ")
    assert queue_type() == "quorum"


def test_an_unknown_queue_type_is_refused_with_the_allowed_values(monkeypatch):
    monkeypatch.setenv("RABBITMQ_QUEUE_TYPE", "stream")
    with pytest.raises(ValueError, match="RABBITMQ_QUEUE_TYPE must be one of classic, quorum, got 'stream'"):
        queue_type()


# -- declaration ---------------------------------------------------------------------------


def test_quorum_setting_declares_every_queue_as_quorum(quorum_url, monkeypatch):
    # Given RABBITMQ_QUEUE_TYPE=quorum and an empty vhost
    monkeypatch.setenv("RABBITMQ_QUEUE_TYPE", "quorum")
    connection = connect(quorum_url)
    try:
        # When the topology is declared (twice: it stays idempotent)
        declare_topology(connection.channel())
        declare_topology(connection.channel())
    finally:
        connection.close()
    # Then rabbitmqctl lists every queue of the topology, each of type quorum
    types = queue_types(vhost_of(quorum_url))
    assert set(types) == set(all_queues())
    assert set(types.values()) == {"quorum"}


def test_classic_setting_keeps_classic_queues(rabbit_url, monkeypatch):
    # Given the default setting and the test vhost the other tests use
    monkeypatch.delenv("RABBITMQ_QUEUE_TYPE", raising=False)
    connection = connect(rabbit_url)
    try:
        declare_topology(connection.channel())
    finally:
        connection.close()
    # Then its queues are classic
    types = queue_types(vhost_of(rabbit_url))
    assert {types[name] for name in all_queues()} == {"classic"}


def test_quorum_delay_queues_dead_letter_at_least_once(quorum_url, quorum_channel):
    # Given the quorum topology, when rabbitmqctl lists the queue arguments
    output = _rabbitmqctl("list_queues", "-p", vhost_of(quorum_url), "--no-table-headers", "name", "arguments")
    arguments = dict(line.split("\t", 1) for line in output.splitlines() if line.strip())
    # Then each delay queue dead-letters at least once (with reject-publish, which it needs)
    delay = arguments[delay_queue_name(EMAIL_QUEUE, 1)]
    assert "at-least-once" in delay and "reject-publish" in delay and EXCHANGE in delay
    # And the work queue has no dead-letter arguments (consumers publish to failed.queue)
    assert "x-dead-letter" not in arguments[EMAIL_QUEUE]


def test_expired_message_in_a_quorum_delay_queue_comes_back_to_the_work_queue(quorum_url, quorum_channel):
    # Given a message published (confirmed) to a quorum delay queue with a 200 ms expiration
    with Publisher(quorum_url) as publisher:
        publisher.publish(delay_queue_name(EMAIL_QUEUE, 1), {"n": 1}, exchange="", expiration_ms=200, message_id="m-q")
    # When it expires, then it arrives in the quorum work queue, dead-lettered as expired
    got = wait_until(lambda: _get(quorum_channel, EMAIL_QUEUE), what="the expired retry back in email.queue")
    method, properties, body = got
    assert json.loads(body) == {"n": 1}
    assert properties.message_id == "m-q"
    [death] = properties.headers["x-death"]
    assert death["reason"] == "expired"
    assert death["queue"] == delay_queue_name(EMAIL_QUEUE, 1)


def _get(channel, queue):
    method, properties, body = channel.basic_get(queue, auto_ack=True)
    return (method, properties, body) if method is not None else None


class FlakyConsumer(BaseConsumer):
    """Fails the first attempt transiently, succeeds on the second."""

    queue = EMAIL_QUEUE

    def __init__(self, url, **kwargs):
        super().__init__(url, **kwargs)
        self.attempts: list[int] = []

    def handle(self, message) -> None:
        self.attempts.append(message.attempt)
        if message.attempt == 1:
            raise TransientError("smtp 421 try later")


def test_consumer_retries_through_quorum_queues_like_classic_ones(quorum_url, quorum_channel, monkeypatch):
    # Given the quorum topology, the setting on, and one confirmed message
    monkeypatch.setenv("RABBITMQ_QUEUE_TYPE", "quorum")
    publisher = Publisher(quorum_url)
    try:
        publisher.publish(EMAIL_QUEUE, {"n": 1}, message_id="m-1")
    finally:
        publisher.close()
    # When a consumer fails it once (transient) and then handles it
    consumer = FlakyConsumer(quorum_url, retry_base_seconds=0.1)
    assert consumer.run(max_messages=2, idle_timeout=10) == 2
    # Then it came back through the quorum delay queue as attempt 2, and nothing is left over
    assert consumer.attempts == [1, 2]
    assert quorum_channel.queue_declare(queue=EMAIL_QUEUE, passive=True).method.message_count == 0
    assert quorum_channel.queue_declare(queue=FAILED_QUEUE, passive=True).method.message_count == 0


# -- switching an existing vhost -------------------------------------------------------------


def test_declaring_quorum_over_classic_queues_fails_with_a_readable_error(quorum_url):
    # Given a vhost whose queues were declared classic
    connection = connect(quorum_url)
    try:
        declare_topology(connection.channel(), queue_type_name="classic")
        # When the topology is declared again as quorum
        with pytest.raises(TopologyMismatchError) as caught:
            declare_topology(connection.channel(), queue_type_name="quorum")
    finally:
        if connection.is_open:
            connection.close()
    # Then the error names the queue, the setting and the way out
    message = str(caught.value)
    assert "'email.queue' as a quorum queue (RABBITMQ_QUEUE_TYPE=quorum)" in message
    assert "PRECONDITION_FAILED" in message
    assert 'docs/operations.md, "Quorum queues"' in message


def test_a_consumer_stops_on_a_topology_mismatch_instead_of_reconnecting_forever(quorum_url, monkeypatch):
    # Given quorum queues in the vhost and a consumer configured for classic queues
    connection = connect(quorum_url)
    try:
        declare_topology(connection.channel(), queue_type_name="quorum")
    finally:
        connection.close()
    monkeypatch.setenv("RABBITMQ_QUEUE_TYPE", "classic")
    consumer = FlakyConsumer(quorum_url)
    # When it starts, then run() ends with the readable error (no reconnect loop)
    with pytest.raises(TopologyMismatchError, match="as a classic queue"):
        consumer.run(idle_timeout=10)
