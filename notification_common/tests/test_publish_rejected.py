"""PublishRejected (the broker refused this message) versus a plain PublishError (the broker
is unreachable): the outbox relay counts the first against the row and never the second."""

from __future__ import annotations

import pytest

from notification_common.rabbitmq import EXCHANGE, Publisher, PublishError, PublishRejected

pytest_plugins = ["tests.rabbit_helpers"]

FULL_QUEUE = "test.publish_rejected.full"


@pytest.fixture
def publisher(rabbit_url, broker):
    publisher = Publisher(rabbit_url)
    yield publisher
    publisher.close()


def test_an_unroutable_message_is_rejected(publisher):
    with pytest.raises(PublishRejected, match="unroutable"):
        publisher.publish("no.such.queue", {"n": 1})


def test_a_nacked_message_is_rejected(publisher, broker):
    broker.channel.queue_declare(FULL_QUEUE, arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
    broker.channel.queue_bind(FULL_QUEUE, EXCHANGE, routing_key=FULL_QUEUE)
    try:
        with pytest.raises(PublishRejected, match="nacked"):
            publisher.publish(FULL_QUEUE, {"n": 1})
    finally:
        broker.channel.queue_delete(FULL_QUEUE)


def test_a_header_value_amqp_cannot_carry_is_rejected_and_nothing_is_sent(publisher, broker):
    with pytest.raises(PublishRejected, match="unsupported header value"):
        publisher.publish("email.queue", {"n": 1}, headers={"ratio": 0.5})

    publisher.publish("email.queue", {"n": 2})  # the connection is still good
    assert [body for _, _, body in broker.drain("email.queue")] == [b'{"n":2}']


def test_an_unreachable_broker_is_an_error_but_no_rejection():
    with Publisher("amqp://guest:guest@127.0.0.1:1/%2F") as publisher, pytest.raises(PublishError) as raised:
        publisher.publish("email.queue", {"n": 1})

    assert not isinstance(raised.value, PublishRejected)
