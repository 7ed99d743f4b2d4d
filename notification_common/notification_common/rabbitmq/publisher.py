"""Confirmed, persistent JSON publishing.

One connection per process (per thread), reused -- never one per request: use
:func:`get_publisher`.  :meth:`Publisher.publish` waits for each confirm;
:meth:`Publisher.publish_batch` writes many messages and awaits their confirms together
(pipelined, about ten times the rate), with the same guarantees per message.

One module, over 350 lines on purpose: both paths share one connection, its reconnect rule
and the message properties, and the batch path's bookkeeping (delivery tags, returns matched
to messages) only makes sense next to the channel it drives.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, Self

import pika
import pika.exceptions

from notification_common.rabbitmq.connection import connect
from notification_common.rabbitmq.topology import EXCHANGE, default_url

__all__ = [
    "BatchOutcome",
    "PublishError",
    "PublishRejected",
    "PublishStatus",
    "Publisher",
    "encode_body",
    "get_publisher",
]

logger = logging.getLogger("notification_common.rabbitmq")

# Errors after which the connection is thrown away, reopened and the publish retried once.
_CONNECTION_ERRORS = (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError, OSError)
# An idle BlockingConnection does not answer heartbeats; before publishing on a
# connection idle for this long, pump its I/O so a connection closed by the broker
# is noticed (and replaced) before the publish rather than during it.
_IDLE_CHECK_SECONDS = 5.0
# publish_batch: how long one attempt waits for the confirms of a batch (as long as a blocked
# connection is tolerated), and at most how many messages await their confirm at a time.
_BATCH_CONFIRM_TIMEOUT_SECONDS = 30.0
_BATCH_WINDOW = 1000


class PublishError(Exception):
    """The message could not be published (unroutable, nacked, or the broker is unreachable)."""


class PublishRejected(PublishError):
    """The broker took the connection but refused this message (returned as unroutable, or
    nacked): publishing it again as it is will likely fail again, unlike an outage."""


class PublishStatus(StrEnum):
    PUBLISHED = "published"
    REJECTED = "rejected"
    NOT_SENT = "not_sent"


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What became of one item of :meth:`Publisher.publish_batch`.

    ``PUBLISHED``: the broker confirmed it.  ``REJECTED``: the broker refused this item only
    (unroutable, nacked, or a header value AMQP cannot carry), as :class:`PublishRejected`.
    ``NOT_SENT``: no confirm arrived (broker unreachable, connection lost, no confirm in
    time): treat it as not published and publish it again (it may have arrived anyway, so
    consumers must be idempotent), as a plain :class:`PublishError`.
    """

    status: PublishStatus
    reason: str = ""

    @property
    def published(self) -> bool:
        return self.status is PublishStatus.PUBLISHED

    def error(self) -> PublishError | None:
        """The exception :meth:`Publisher.publish` would have raised for this item (None if published)."""
        if self.status is PublishStatus.PUBLISHED:
            return None
        if self.status is PublishStatus.REJECTED:
            return PublishRejected(self.reason)
        return PublishError(self.reason)


_PUBLISHED = BatchOutcome(PublishStatus.PUBLISHED)


def encode_body(body: dict | bytes) -> bytes:
    """Compact JSON for dicts; bytes pass through unchanged."""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return json.dumps(body, separators=(",", ":"), default=str).encode("utf-8")


def _message_properties(
    *,
    headers: dict | None = None,
    message_id: str | None = None,
    correlation_id: str | None = None,
    priority: int | None = None,
    expiration_ms: int | None = None,
) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent,
        headers=headers or None,
        message_id=message_id,
        correlation_id=correlation_id,
        priority=priority,
        expiration=None if expiration_ms is None else str(max(0, int(expiration_ms))),
        # When it started waiting: consumers report the age of the oldest waiting message
        # from it (retries keep it; docs/operations.md, "Paused consumers").
        timestamp=int(time.time()),
    )


class _BatchMessage(NamedTuple):
    exchange: str
    routing_key: str
    data: bytes
    properties: pika.BasicProperties
    target: str

    @classmethod
    def build(
        cls,
        routing_key: str,
        body: dict | bytes,
        *,
        exchange: str = EXCHANGE,
        properties: pika.BasicProperties | None = None,
        **property_kwargs: Any,
    ) -> _BatchMessage:
        """The arguments of :meth:`Publisher.publish` (same names, same defaults)."""
        if properties is None:
            properties = _message_properties(**property_kwargs)
        target = f"exchange={exchange!r} routing_key={routing_key!r}"
        return cls(exchange, routing_key, encode_body(body), properties, target)

    def returned_as(self, exchange: str, routing_key: str, message_id: str | None, body: bytes) -> bool:
        return (
            self.routing_key == routing_key
            and self.exchange == exchange
            and self.properties.message_id == message_id
            and self.data == body
        )


class _BatchTimeout(Exception):
    """Confirms of a batch still missing when its deadline passed."""


def _channel_impl(channel):
    """The asynchronous ``pika.channel.Channel`` behind a ``BlockingChannel``.

    pika has no public pipelined confirm mode on a BlockingConnection, so publish_batch
    drives the channel underneath (a private attribute, pinned here and by the tests:
    test_rabbitmq_publish_batch.py fails loudly if a pika upgrade changes it).
    """
    impl = getattr(channel, "_impl", None)
    if not isinstance(impl, pika.channel.Channel) or not all(
        callable(getattr(impl, name, None)) for name in ("confirm_delivery", "add_on_return_callback", "basic_publish")
    ):
        raise RuntimeError(
            f"pika {pika.__version__}: BlockingChannel._impl is no longer a pika.channel.Channel with "
            "confirm_delivery/add_on_return_callback/basic_publish; Publisher.publish_batch needs porting"
        )
    return impl


class _PendingConfirms:
    """The messages of one batch attempt that await their confirm, by delivery tag.

    The broker confirms in publish order (an ack or nack, possibly ``multiple``); a mandatory
    message it cannot route comes back as basic.return *before* its ack, so a return marks
    the earliest unconfirmed message it matches (exchange, routing key, message id, body:
    identical messages are interchangeable) and that ack then counts as a refusal.
    """

    def __init__(self, messages: list[_BatchMessage], outcomes: list[BatchOutcome | None], wake) -> None:
        self.messages = messages
        self.outcomes = outcomes
        self.unconfirmed: dict[int, int] = {}  # delivery tag -> item index, in tag order
        self.returned: set[int] = set()
        self.lowest_tag = 0  # no unconfirmed tag of this batch is lower
        self.wake_at = -1  # wake the waiting loop once when this few remain unconfirmed
        self._wake = wake

    def sent(self, tag: int, index: int) -> None:
        if not self.unconfirmed:
            self.lowest_tag = tag
        self.unconfirmed[tag] = index

    def on_confirm(self, method) -> None:
        nacked = isinstance(method, pika.spec.Basic.Nack)
        if method.multiple:
            for tag in range(self.lowest_tag, method.delivery_tag + 1):
                self._settle(tag, nacked)
            self.lowest_tag = max(self.lowest_tag, method.delivery_tag + 1)
        else:
            self._settle(method.delivery_tag, nacked)
        if len(self.unconfirmed) <= self.wake_at:
            self.wake_at = -1
            self._wake()

    def on_return(self, method, properties, body: bytes) -> None:
        for index in self.unconfirmed.values():
            if index not in self.returned and self.messages[index].returned_as(
                method.exchange, method.routing_key, properties.message_id, body
            ):
                self.returned.add(index)
                return
        logger.warning(
            "a returned message matches no unconfirmed message of the batch",
            extra={"exchange": method.exchange, "routing_key": method.routing_key},
        )

    def _settle(self, tag: int, nacked: bool) -> None:
        index = self.unconfirmed.pop(tag, None)
        if index is None:  # not of this batch (a confirm that came after its batch gave up)
            return
        target = self.messages[index].target
        if nacked:
            self.outcomes[index] = BatchOutcome(PublishStatus.REJECTED, f"nacked by broker: {target}")
        elif index in self.returned:
            self.outcomes[index] = BatchOutcome(PublishStatus.REJECTED, f"unroutable: {target}")
        else:
            self.outcomes[index] = _PUBLISHED


def _noop() -> None:
    """Scheduled with ``call_later(0, ...)`` to wake ``process_data_events`` from its wait."""


class Publisher:
    """One connection + one confirmed channel, opened lazily.  Not thread-safe."""

    def __init__(self, url: str | None = None, *, confirm: bool = True, connection_name: str | None = None):
        self.url = url or default_url()
        self.confirm = confirm
        self.connection_name = connection_name
        self._connection: pika.BlockingConnection | None = None
        self._channel = None
        # publish_batch's channel: confirm mode driven through pika's channel underneath.
        self._batch_channel = None
        self._batch_last_tag = 0  # the delivery tag of its latest publish
        self._pending: _PendingConfirms | None = None
        self._pid = os.getpid()
        self._last_used = 0.0

    # -- connection management -------------------------------------------------
    def _get_connection(self) -> pika.BlockingConnection:
        if self._pid != os.getpid():
            # Forked: the socket belongs to the parent; drop it without closing it.
            self._connection = self._channel = self._batch_channel = None
            self._pid = os.getpid()
        if (
            self._connection is not None
            and self._connection.is_open
            and time.monotonic() - self._last_used > _IDLE_CHECK_SECONDS
        ):
            self._connection.process_data_events(0)
        if self._connection is None or not self._connection.is_open:
            self._reset()
            self._connection = connect(self.url, connection_name=self.connection_name)
        return self._connection

    def _get_channel(self):
        connection = self._get_connection()
        if self._channel is None or not self._channel.is_open:
            self._channel = connection.channel()
            if self.confirm:
                self._channel.confirm_delivery()
        return self._channel

    def _get_batch_channel(self):
        connection = self._get_connection()
        if self._batch_channel is None or not self._batch_channel.is_open:
            channel = connection.channel()
            impl = _channel_impl(channel)
            selected: list = []

            def on_select_ok(frame) -> None:
                selected.append(frame)
                connection.call_later(0, _noop)  # ends process_data_events' wait

            impl.confirm_delivery(ack_nack_callback=self._on_batch_confirm, callback=on_select_ok)
            impl.add_on_return_callback(self._on_batch_return)
            deadline = time.monotonic() + _BATCH_CONFIRM_TIMEOUT_SECONDS
            while not selected:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not channel.is_open:
                    raise pika.exceptions.ChannelWrongStateError("confirm mode was not acknowledged")
                connection.process_data_events(time_limit=remaining)
            self._batch_channel, self._batch_last_tag = channel, 0
        return self._batch_channel

    def _on_batch_confirm(self, frame) -> None:
        if self._pending is not None:
            self._pending.on_confirm(frame.method)

    def _on_batch_return(self, _channel, method, properties, body: bytes) -> None:
        if self._pending is not None:
            self._pending.on_return(method, properties, body)

    def _reset(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._batch_channel = None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # best effort on a connection we are discarding
                logger.debug("error while closing a discarded connection", exc_info=True)

    def close(self) -> None:
        if self._pid == os.getpid():
            self._reset()
        self._connection = self._channel = self._batch_channel = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- publishing ---------------------------------------------------------------
    def publish(
        self,
        routing_key: str,
        body: dict | bytes,
        *,
        exchange: str = EXCHANGE,
        headers: dict | None = None,
        message_id: str | None = None,
        correlation_id: str | None = None,
        priority: int | None = None,
        expiration_ms: int | None = None,
        properties: pika.BasicProperties | None = None,
    ) -> None:
        """Publish one persistent message and wait for the broker's confirm.

        ``properties`` (advanced) replaces the properties built from the other
        arguments.  Raises :class:`PublishError` when the message is unroutable
        (``mandatory``), nacked, or the broker cannot be reached after one reconnect.
        With ``confirm=False`` an unroutable message is dropped silently.
        """
        if properties is None:
            properties = _message_properties(
                headers=headers,
                message_id=message_id,
                correlation_id=correlation_id,
                priority=priority,
                expiration_ms=expiration_ms,
            )
        data = encode_body(body)
        target = f"exchange={exchange!r} routing_key={routing_key!r}"
        for attempt in (1, 2):
            try:
                self._get_channel().basic_publish(exchange, routing_key, data, properties, mandatory=True)
                self._last_used = time.monotonic()
                return
            except pika.exceptions.UnroutableError as exc:
                raise PublishRejected(f"unroutable: {target}") from exc
            except pika.exceptions.NackError as exc:
                raise PublishRejected(f"nacked by broker: {target}") from exc
            except pika.exceptions.UnsupportedAMQPFieldException as exc:
                # A header value AMQP cannot carry (e.g. a float): nothing was sent.
                raise PublishRejected(f"unsupported header value ({target}): {exc!r}") from exc
            except _CONNECTION_ERRORS as exc:
                self._reset()
                if attempt == 2:
                    raise PublishError(f"publish failed after reconnect ({target}): {exc!r}") from exc
                logger.warning("publish failed (%r); reconnecting and retrying once", exc)
            except pika.exceptions.AMQPError as exc:
                self._reset()
                raise PublishError(f"publish failed ({target}): {exc!r}") from exc

    def publish_batch(
        self,
        items: Sequence[tuple[str, dict | bytes, dict[str, Any] | None]],
        *,
        timeout: float = _BATCH_CONFIRM_TIMEOUT_SECONDS,
    ) -> list[BatchOutcome]:
        """Publish ``(routing_key, body, kwargs)`` items (``kwargs`` as for :meth:`publish`)
        as persistent, mandatory messages in order, and await all their confirms together.

        Returns one :class:`BatchOutcome` per item, in order; raises nothing for a broker
        problem.  An item counts as published only once the broker confirmed it; unroutable
        and nacked are refusals of that item only.  When the connection fails, the items not
        yet confirmed are published again once on a new connection (like :meth:`publish`);
        what still has no confirm, or none within ``timeout`` seconds, is ``NOT_SENT``.
        With ``confirm=False`` each item is published as :meth:`publish` does, unconfirmed.
        """
        messages = [_BatchMessage.build(routing_key, body, **(kwargs or {})) for routing_key, body, kwargs in items]
        outcomes: list[BatchOutcome | None] = [None] * len(messages)
        if not self.confirm:
            return self._publish_unconfirmed(messages)
        reason = ""
        for attempt in (1, 2):
            todo = [index for index, outcome in enumerate(outcomes) if outcome is None]
            if not todo:
                break
            try:
                self._batch_attempt(messages, todo, outcomes, timeout)
            except _BatchTimeout:
                # The connection is probably blocked; confirms arriving later must not count.
                self._reset()
                reason = f"no confirm within {timeout:g} s"
                break
            except _CONNECTION_ERRORS as exc:
                self._reset()
                reason = f"publish failed after reconnect: {exc!r}"
                if attempt == 1:
                    logger.warning("batch publish failed (%r); reconnecting and retrying the unconfirmed once", exc)
            except pika.exceptions.AMQPError as exc:
                self._reset()
                reason = f"publish failed: {exc!r}"
                break
            finally:
                self._pending = None
        return [
            outcome or BatchOutcome(PublishStatus.NOT_SENT, f"{reason} ({message.target})")
            for outcome, message in zip(outcomes, messages, strict=True)
        ]

    def _batch_attempt(
        self,
        messages: list[_BatchMessage],
        todo: list[int],
        outcomes: list[BatchOutcome | None],
        timeout: float,
    ) -> None:
        """Publish ``todo`` on the batch channel and wait until each has its outcome."""
        deadline = time.monotonic() + timeout
        channel = self._get_batch_channel()
        connection = self._connection
        impl = _channel_impl(channel)
        pending = self._pending = _PendingConfirms(messages, outcomes, lambda: connection.call_later(0, _noop))

        def wait_until_unconfirmed_at_most(count: int) -> None:
            while len(pending.unconfirmed) > count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _BatchTimeout
                pending.wake_at = count
                connection.process_data_events(time_limit=remaining)
                if not channel.is_open:
                    raise pika.exceptions.ChannelWrongStateError("the batch channel was closed")

        for index in todo:
            message = messages[index]
            try:
                impl.basic_publish(
                    message.exchange, message.routing_key, message.data, message.properties, mandatory=True
                )
            except pika.exceptions.UnsupportedAMQPFieldException as exc:
                # A header value AMQP cannot carry (e.g. a float): nothing was sent.
                outcomes[index] = BatchOutcome(
                    PublishStatus.REJECTED, f"unsupported header value ({message.target}): {exc!r}"
                )
                continue
            self._batch_last_tag += 1
            pending.sent(self._batch_last_tag, index)
            if len(pending.unconfirmed) >= _BATCH_WINDOW:
                wait_until_unconfirmed_at_most(_BATCH_WINDOW // 2)
        wait_until_unconfirmed_at_most(0)
        self._last_used = time.monotonic()

    def _publish_unconfirmed(self, messages: list[_BatchMessage]) -> list[BatchOutcome]:
        outcomes: list[BatchOutcome] = []
        for message in messages:
            try:
                self.publish(
                    message.routing_key, message.data, exchange=message.exchange, properties=message.properties
                )
            except PublishRejected as exc:
                outcomes.append(BatchOutcome(PublishStatus.REJECTED, str(exc)))
                continue
            except PublishError as exc:
                outcomes.extend(BatchOutcome(PublishStatus.NOT_SENT, str(exc)) for _ in messages[len(outcomes) :])
                break
            outcomes.append(_PUBLISHED)
        return outcomes

    def publish_many(self, items: list[tuple[str, dict | bytes, dict[str, Any]]]) -> None:
        """Publish ``(routing_key, body, kwargs)`` items in order, confirmed (pipelined:
        :meth:`publish_batch`).

        Raises :class:`PublishError` (:class:`PublishRejected` for a refusal) for the first
        item in order that was not published; earlier items stay published.  Later items
        may have been published too.
        """
        for outcome in self.publish_batch(items):
            if not outcome.published:
                raise outcome.error()


_local = threading.local()


def get_publisher(url: str | None = None) -> Publisher:
    """The Publisher of this process and thread for ``url`` (created on first use).

    After a fork the child gets fresh Publishers (the parent's socket is never used).
    """
    url = url or default_url()
    pid = os.getpid()
    if getattr(_local, "pid", None) != pid:
        _local.pid = pid
        _local.publishers = {}
    publisher = _local.publishers.get(url)
    if publisher is None:
        publisher = _local.publishers[url] = Publisher(url)
    return publisher
