"""StoringConsumer against the real broker: an outage of the store requeues and pauses; a
message the store refuses is stored reduced, or parked, and never loops."""

from __future__ import annotations

import pytest

from notification_common.rabbitmq import FAILED_PARKED_QUEUE, FAILED_QUEUE, ConsumedMessage, Publisher, StoringConsumer

pytest_plugins = ["tests.rabbit_helpers"]


class StoreDown(ConnectionError):
    pass


class Store(StoringConsumer):
    """Stores into lists. ``refuse(raw)`` says whether the store refuses a message as it is;
    ``refuse_reduced`` how many reduced forms it refuses; ``down`` how many calls fail with
    an outage."""

    queue = FAILED_QUEUE
    failure_pause_seconds = 0.01

    def __init__(self, url, *, refuse=lambda raw: False, refuse_reduced=0, down=0, reduced=True):
        super().__init__(url)
        self.refuse = refuse
        self.refuse_reduced = refuse_reduced
        self.down = down
        self.reduced_supported = reduced
        self.calls = 0
        self.stored: list[bytes] = []
        self.reduced: list[tuple[bytes, str, int]] = []

    def handle(self, message: ConsumedMessage) -> None:
        self.calls += 1
        if self.down:
            self.down -= 1
            raise StoreDown("connection refused")
        if self.refuse(message.raw):
            raise ValueError("A string literal cannot contain NUL (0x00) characters.")
        self.stored.append(message.raw)

    def handle_unstorable(self, message: ConsumedMessage, reason: str, attempt: int) -> None:
        if not self.reduced_supported:
            return super().handle_unstorable(message, reason, attempt)
        if self.refuse_reduced:
            self.refuse_reduced -= 1
            raise ValueError(f"reduced form {attempt} refused")
        self.reduced.append((message.raw, reason, attempt))

    def store_unavailable(self, error: BaseException) -> bool:
        return isinstance(error, StoreDown)


@pytest.fixture
def publish(rabbit_url, broker):
    publisher = Publisher(rabbit_url)

    def send(raw: bytes, **kwargs) -> None:
        publisher.publish(FAILED_QUEUE, raw, **kwargs)

    yield send
    publisher.close()


def has_nul(raw: bytes) -> bool:
    return b"\x00" in raw


def run(consumer: Store, count: int) -> None:
    assert consumer.run(max_messages=count, idle_timeout=3) == count


def test_a_message_the_store_refuses_is_stored_reduced_and_the_next_one_follows(rabbit_url, broker, publish):
    publish(b"bad\x00body")
    publish(b'{"n": 2}')
    consumer = Store(rabbit_url, refuse=has_nul)

    run(consumer, 2)

    nul_refused = "ValueError: A string literal cannot contain NUL (0x00) characters."
    assert consumer.reduced == [(b"bad\x00body", nul_refused, 1)]
    assert consumer.stored == [b'{"n": 2}']
    assert broker.ready(FAILED_QUEUE) == 0


def test_the_store_is_tried_once_more_before_a_message_is_called_unstorable(rabbit_url, broker, publish):
    publish(b"bad\x00body")
    consumer = Store(rabbit_url, refuse=has_nul)

    run(consumer, 1)

    assert consumer.calls == 2


def test_each_refused_reduced_form_is_followed_by_a_smaller_one(rabbit_url, broker, publish):
    publish(b"bad\x00body")
    consumer = Store(rabbit_url, refuse=has_nul, refuse_reduced=2)

    run(consumer, 1)

    [(_, reason, attempt)] = consumer.reduced
    assert attempt == 3
    assert "reduced form 1 refused" in reason and "reduced form 2 refused" in reason


def test_what_no_reduced_form_can_store_is_parked_as_it_is(rabbit_url, broker, publish):
    publish(b"bad\x00body", message_id="m-1", headers={"x-failure-reason": "smtp 550"})
    publish(b'{"n": 2}')
    consumer = Store(rabbit_url, refuse=has_nul, refuse_reduced=Store.reduced_store_attempts)

    run(consumer, 2)

    [(_, properties, body)] = broker.drain(FAILED_PARKED_QUEUE)
    assert body == b"bad\x00body"
    assert properties.message_id == "m-1"
    assert properties.headers["x-failure-reason"] == "smtp 550"
    assert "NUL" in properties.headers["x-store-error"]
    assert consumer.stored == [b'{"n": 2}']
    assert broker.ready(FAILED_QUEUE) == 0


def test_a_consumer_without_a_reduced_form_parks_what_it_cannot_store(rabbit_url, broker, publish):
    publish(b"bad\x00body")
    consumer = Store(rabbit_url, refuse=has_nul, reduced=False)

    run(consumer, 1)

    assert [body for _, _, body in broker.drain(FAILED_PARKED_QUEUE)] == [b"bad\x00body"]
    assert broker.ready(FAILED_QUEUE) == 0


def test_while_the_store_is_down_messages_are_requeued_not_reduced(rabbit_url, broker, publish):
    publish(b'{"n": 1}')
    consumer = Store(rabbit_url, down=3)

    run(consumer, 1)

    assert consumer.calls == 4  # three refused connections, each requeued; then stored
    assert consumer.reduced == []
    assert consumer.stored == [b'{"n": 1}']
    assert broker.ready(FAILED_QUEUE) == 0
    assert broker.ready(FAILED_PARKED_QUEUE) == 0


def test_a_probe_that_raises_counts_as_the_store_being_down(rabbit_url, broker, publish):
    publish(b'{"n": 1}')

    class BrokenProbe(Store):
        def store_unavailable(self, error):
            if self.calls < 2:
                raise RuntimeError("probe failed")
            return False

    consumer = BrokenProbe(rabbit_url, refuse=lambda raw: consumer.calls < 2)

    run(consumer, 1)

    assert consumer.reduced == []
    assert consumer.stored == [b'{"n": 1}']
