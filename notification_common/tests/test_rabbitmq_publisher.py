"""Publisher: persistent, confirmed JSON messages; one publisher per process and thread."""

from __future__ import annotations

import json
import threading

import pytest

from notification_common.rabbitmq import EMAIL_QUEUE, Publisher, PublishError, get_publisher

pytest_plugins = ["tests.rabbit_helpers"]


@pytest.fixture
def publisher(rabbit_url, broker):
    publisher = Publisher(rabbit_url)
    yield publisher
    publisher.close()


def test_published_dict_arrives_in_email_queue_as_persistent_json_with_headers(publisher, broker):
    # Given a notification payload
    body = {"schema": 1, "notification_id": "n-1", "to": "a@example.com"}
    # When it is published to the email routing key
    publisher.publish(EMAIL_QUEUE, body, headers={"x-request-id": "req-1"}, message_id="n-1", correlation_id="corr-1")
    # Then it is in email.queue: JSON body, persistent, headers and ids kept
    method, properties, raw = broker.get(EMAIL_QUEUE)
    assert json.loads(raw) == body
    assert raw == b'{"schema":1,"notification_id":"n-1","to":"a@example.com"}'  # compact
    assert properties.delivery_mode == 2
    assert properties.content_type == "application/json"
    assert properties.headers == {"x-request-id": "req-1"}
    assert properties.message_id == "n-1"
    assert properties.correlation_id == "corr-1"
    assert method.routing_key == EMAIL_QUEUE


def test_publishing_with_an_unroutable_routing_key_raises_publish_error(publisher):
    # Given a routing key no queue is bound to
    # When a message is published with it
    # Then PublishError is raised (mandatory + confirms), not a silent drop
    with pytest.raises(PublishError, match="unroutable"):
        publisher.publish("no.such.queue", {"x": 1})


def test_publisher_keeps_working_after_an_unroutable_message(publisher, broker):
    # Given a publisher whose previous message was unroutable
    with pytest.raises(PublishError):
        publisher.publish("no.such.queue", {"x": 1})
    # When it publishes a routable message
    publisher.publish(EMAIL_QUEUE, {"x": 2})
    # Then the message arrives
    assert json.loads(broker.get(EMAIL_QUEUE)[2]) == {"x": 2}


def test_publisher_reconnects_when_its_connection_was_lost(publisher, broker):
    # Given a publisher whose connection has gone away
    publisher.publish(EMAIL_QUEUE, {"n": 1})
    publisher._connection.close()
    # When it publishes again
    publisher.publish(EMAIL_QUEUE, {"n": 2})
    # Then both messages arrived
    assert [json.loads(broker.get(EMAIL_QUEUE)[2]) for _ in range(2)] == [{"n": 1}, {"n": 2}]


def test_bytes_body_and_expiration_are_passed_through(publisher, broker):
    publisher.publish(EMAIL_QUEUE, b"\x00raw", expiration_ms=60_000, priority=3)
    _, properties, raw = broker.get(EMAIL_QUEUE)
    assert raw == b"\x00raw"
    assert properties.expiration == "60000"
    assert properties.priority == 3


def test_get_publisher_returns_one_publisher_per_thread_and_url(rabbit_url):
    # Given one thread asking twice
    first, second = get_publisher(rabbit_url), get_publisher(rabbit_url)
    # When another thread asks too
    other: list[Publisher] = []
    thread = threading.Thread(target=lambda: other.append(get_publisher(rabbit_url)))
    thread.start()
    thread.join()
    # Then the same thread gets the same object; another thread gets its own
    assert first is second
    assert other[0] is not first
    assert get_publisher(rabbit_url + "?heartbeat=10") is not first
