"""Publisher.publish_batch: many persistent, mandatory messages whose confirms are awaited
together, with an outcome per item; and publish_many built on it (real broker)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

import pytest

from notification_common.rabbitmq import EMAIL_QUEUE, EXCHANGE, Publisher, PublishError, PublishRejected
from notification_common.rabbitmq.publisher import PublishStatus, _channel_impl
from notification_devtools.testing.tcp_proxy import TcpProxy

pytest_plugins = ["tests.rabbit_helpers"]

FULL_QUEUE = "test.publish_batch.full"


@pytest.fixture
def publisher(rabbit_url, broker):
    publisher = Publisher(rabbit_url)
    yield publisher
    publisher.close()


@pytest.fixture
def proxy(rabbit_url):
    target = urlsplit(rabbit_url)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5672) as proxy:
        yield proxy


@pytest.fixture
def proxied_publisher(rabbit_url, broker, proxy):
    target = urlsplit(rabbit_url)
    netloc = f"{target.username}:{target.password}@{proxy.host}:{proxy.port}"
    publisher = Publisher(urlunsplit(target._replace(netloc=netloc)))
    yield publisher
    publisher.close()


def _items(count: int, routing_key: str = EMAIL_QUEUE) -> list[tuple]:
    return [(routing_key, {"n": n}, {"message_id": f"m-{n}"}) for n in range(count)]


def _arrived_ids(broker) -> list[str]:
    return [properties.message_id for _, properties, _ in broker.drain(EMAIL_QUEUE)]


def _cut_after_first_confirm(publisher, proxy, *, restore: bool) -> None:
    """Drop the publisher's connection as soon as the first confirm of a batch arrives."""
    confirm = publisher._on_batch_confirm
    state = {"cut": False}

    def confirm_then_cut(frame) -> None:
        confirm(frame)
        if not state["cut"]:
            state["cut"] = True
            proxy.cut()
            if restore:
                proxy.restore()

    publisher._on_batch_confirm = confirm_then_cut


def test_every_item_is_confirmed_and_arrives_in_order_as_persistent_json(publisher, broker):
    # Given 20 messages with headers and ids
    items = [
        (EMAIL_QUEUE, {"n": n}, {"message_id": f"m-{n}", "headers": {"x-request-id": f"r-{n}"}}) for n in range(20)
    ]
    # When they are published as one batch
    outcomes = publisher.publish_batch(items)
    # Then each is published, and they arrived in order as publish() would have sent them
    assert [outcome.status for outcome in outcomes] == [PublishStatus.PUBLISHED] * 20
    arrived = broker.drain(EMAIL_QUEUE)
    assert [json.loads(body) for _, _, body in arrived] == [{"n": n} for n in range(20)]
    _, properties, _ = arrived[7]
    assert properties.delivery_mode == 2
    assert properties.content_type == "application/json"
    assert properties.message_id == "m-7"
    assert properties.headers == {"x-request-id": "r-7"}


def test_an_unroutable_item_in_the_middle_is_rejected_alone(publisher, broker):
    # Given a batch whose middle item has a routing key no queue is bound to
    items = _items(9)
    items[4] = ("no.such.queue", {"n": 4}, {"message_id": "m-4"})
    # When it is published
    outcomes = publisher.publish_batch(items)
    # Then that item alone is rejected as unroutable; every other one arrived
    assert [outcome.published for outcome in outcomes] == [True] * 4 + [False] + [True] * 4
    assert outcomes[4].status is PublishStatus.REJECTED
    assert "unroutable" in outcomes[4].reason
    assert isinstance(outcomes[4].error(), PublishRejected)
    assert _arrived_ids(broker) == [f"m-{n}" for n in range(9) if n != 4]


def test_a_returned_item_is_told_from_routable_items_with_the_same_body_and_id(publisher, broker):
    # Given identical messages, one of them sent to an unbound routing key
    items = [(EMAIL_QUEUE, {"n": 1}, {"message_id": "same"})] * 3
    items.insert(1, ("no.such.queue", {"n": 1}, {"message_id": "same"}))
    # When they are published
    outcomes = publisher.publish_batch(items)
    # Then only the unroutable one is rejected
    assert [outcome.status for outcome in outcomes] == [
        PublishStatus.PUBLISHED,
        PublishStatus.REJECTED,
        PublishStatus.PUBLISHED,
        PublishStatus.PUBLISHED,
    ]
    assert _arrived_ids(broker) == ["same"] * 3


def test_a_nacked_item_is_rejected_alone(publisher, broker):
    # Given a queue that refuses every message (nack), bound next to email.queue
    broker.channel.queue_declare(FULL_QUEUE, arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
    broker.channel.queue_bind(FULL_QUEUE, EXCHANGE, routing_key=FULL_QUEUE)
    try:
        items = _items(3)
        items.insert(1, (FULL_QUEUE, {"n": "full"}, {}))
        # When a batch with one message for it is published
        outcomes = publisher.publish_batch(items)
    finally:
        broker.channel.queue_delete(FULL_QUEUE)
    # Then that message is rejected as nacked, the others are published
    assert [outcome.published for outcome in outcomes] == [True, False, True, True]
    assert outcomes[1].status is PublishStatus.REJECTED
    assert "nacked" in outcomes[1].reason
    assert _arrived_ids(broker) == ["m-0", "m-1", "m-2"]


def test_a_header_value_amqp_cannot_carry_rejects_that_item_and_sends_nothing_for_it(publisher, broker):
    items = _items(3)
    items[1] = (EMAIL_QUEUE, {"n": 1}, {"message_id": "m-1", "headers": {"ratio": 0.5}})

    outcomes = publisher.publish_batch(items)

    assert [outcome.status for outcome in outcomes] == [
        PublishStatus.PUBLISHED,
        PublishStatus.REJECTED,
        PublishStatus.PUBLISHED,
    ]
    assert "unsupported header value" in outcomes[1].reason
    assert _arrived_ids(broker) == ["m-0", "m-2"]


def test_a_thousand_items_are_all_confirmed(publisher, broker):
    outcomes = publisher.publish_batch(_items(1000))

    assert all(outcome.published for outcome in outcomes)
    assert len(outcomes) == 1000
    assert _arrived_ids(broker) == [f"m-{n}" for n in range(1000)]


def test_consecutive_batches_on_one_connection_each_get_their_own_outcomes(publisher, broker):
    first = publisher.publish_batch(_items(3))
    items = _items(3)
    items[0] = ("no.such.queue", {"n": 0}, {"message_id": "m-0"})
    second = publisher.publish_batch(items)
    publisher.publish(EMAIL_QUEUE, {"n": "single"}, message_id="single")

    assert [outcome.published for outcome in first] == [True, True, True]
    assert [outcome.published for outcome in second] == [False, True, True]
    assert _arrived_ids(broker) == ["m-0", "m-1", "m-2", "m-1", "m-2", "single"]


def test_a_connection_lost_mid_batch_leaves_the_unconfirmed_items_not_sent(proxied_publisher, proxy, broker):
    # Given a broker that goes away (and stays away) once the first confirm of a batch is in
    _cut_after_first_confirm(proxied_publisher, proxy, restore=False)
    # When a batch of 5,000 is published
    outcomes = proxied_publisher.publish_batch(_items(5000))
    # Then what was confirmed is published, the rest is not sent (never rejected)...
    statuses = {outcome.status for outcome in outcomes}
    assert statuses == {PublishStatus.PUBLISHED, PublishStatus.NOT_SENT}
    not_sent = [outcome for outcome in outcomes if outcome.status is PublishStatus.NOT_SENT]
    assert all(type(outcome.error()) is PublishError for outcome in not_sent)
    # ...and nothing reported published is missing from the queue
    published_ids = {f"m-{n}" for n, outcome in enumerate(outcomes) if outcome.published}
    assert published_ids <= set(_arrived_ids(broker))


def test_a_connection_lost_once_mid_batch_is_retried_on_a_new_connection(proxied_publisher, proxy, broker):
    # Given a connection dropped once the first confirm of a batch is in (the broker stays up)
    _cut_after_first_confirm(proxied_publisher, proxy, restore=True)
    # When a batch of 5,000 is published
    outcomes = proxied_publisher.publish_batch(_items(5000))
    # Then the unconfirmed items were published again: all are published (at least once)
    assert all(outcome.published for outcome in outcomes)
    assert proxy.accepted == 2
    assert set(_arrived_ids(broker)) == {f"m-{n}" for n in range(5000)}


def test_items_without_a_confirm_in_time_are_not_sent_and_the_next_batch_starts_afresh(publisher, broker):
    # Given confirms that never reach the publisher (as on a blocked connection)
    publisher._on_batch_confirm = lambda frame: None
    # When a batch is published with a short timeout
    outcomes = publisher.publish_batch(_items(3), timeout=0.5)
    # Then nothing counts as published; a later batch, on a new connection, is confirmed
    assert [outcome.status for outcome in outcomes] == [PublishStatus.NOT_SENT] * 3
    assert "no confirm within 0.5 s" in outcomes[0].reason
    del publisher._on_batch_confirm
    assert all(outcome.published for outcome in publisher.publish_batch(_items(2)))


def test_an_unreachable_broker_leaves_every_item_not_sent():
    with Publisher("amqp://guest:guest@127.0.0.1:1/%2F") as publisher:
        outcomes = publisher.publish_batch(_items(3))

    assert [outcome.status for outcome in outcomes] == [PublishStatus.NOT_SENT] * 3
    assert not any(isinstance(outcome.error(), PublishRejected) for outcome in outcomes)


def test_an_empty_batch_publishes_nothing(publisher):
    assert publisher.publish_batch([]) == []


def test_publish_many_raises_for_the_first_item_not_published_and_keeps_the_earlier_ones(publisher, broker):
    # Given items whose third is unroutable
    items = _items(5)
    items[2] = ("no.such.queue", {"n": 2}, {"message_id": "m-2"})
    # When they are published with publish_many
    # Then PublishRejected names the unroutable one, and the earlier items were published
    with pytest.raises(PublishRejected, match="unroutable: .*no.such.queue"):
        publisher.publish_many(items)
    assert _arrived_ids(broker)[:2] == ["m-0", "m-1"]


def test_publish_many_with_every_item_routable_publishes_them_all(publisher, broker):
    publisher.publish_many(_items(5))

    assert _arrived_ids(broker) == [f"m-{n}" for n in range(5)]


def test_an_unconfirmed_publisher_publishes_a_batch_without_waiting_for_confirms(rabbit_url, broker):
    with Publisher(rabbit_url, confirm=False) as publisher:
        outcomes = publisher.publish_batch(_items(3))

    assert [outcome.published for outcome in outcomes] == [True, True, True]
    assert _arrived_ids(broker) == ["m-0", "m-1", "m-2"]


def test_the_pika_channel_publish_batch_drives_is_still_where_it_is_expected(publisher):
    # publish_batch uses BlockingChannel._impl (pika has no public pipelined confirms on a
    # BlockingConnection): if a pika upgrade moves it, this fails before production does.
    channel = publisher._get_batch_channel()
    impl = _channel_impl(channel)
    assert type(impl).__module__ == "pika.channel"
    assert type(impl).__name__ == "Channel"
    with pytest.raises(RuntimeError, match="publish_batch needs porting"):
        _channel_impl(object())
