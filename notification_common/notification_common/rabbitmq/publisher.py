"""Confirmed, persistent JSON publishing.

One connection per process (per thread), reused -- never one per request: use
:func:`get_publisher`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any, Self

import pika
import pika.exceptions

from notification_common.rabbitmq.connection import connect
from notification_common.rabbitmq.topology import EXCHANGE, default_url

__all__ = ["PublishError", "PublishRejected", "Publisher", "encode_body", "get_publisher"]

logger = logging.getLogger("notification_common.rabbitmq")

# Errors after which the connection is thrown away, reopened and the publish retried once.
_CONNECTION_ERRORS = (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError, OSError)
# An idle BlockingConnection does not answer heartbeats; before publishing on a
# connection idle for this long, pump its I/O so a connection closed by the broker
# is noticed (and replaced) before the publish rather than during it.
_IDLE_CHECK_SECONDS = 5.0


class PublishError(Exception):
    """The message could not be published (unroutable, nacked, or the broker is unreachable)."""


class PublishRejected(PublishError):
    """The broker took the connection but refused this message (returned as unroutable, or
    nacked): publishing it again as it is will likely fail again, unlike an outage."""


def encode_body(body: dict | bytes) -> bytes:
    """Compact JSON for dicts; bytes pass through unchanged."""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return json.dumps(body, separators=(",", ":"), default=str).encode("utf-8")


class Publisher:
    """One connection + one confirmed channel, opened lazily.  Not thread-safe."""

    def __init__(self, url: str | None = None, *, confirm: bool = True, connection_name: str | None = None):
        self.url = url or default_url()
        self.confirm = confirm
        self.connection_name = connection_name
        self._connection: pika.BlockingConnection | None = None
        self._channel = None
        self._pid = os.getpid()
        self._last_used = 0.0

    # -- connection management -------------------------------------------------
    def _get_channel(self):
        if self._pid != os.getpid():
            # Forked: the socket belongs to the parent; drop it without closing it.
            self._connection = self._channel = None
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
        if self._channel is None or not self._channel.is_open:
            self._channel = self._connection.channel()
            if self.confirm:
                self._channel.confirm_delivery()
        return self._channel

    def _reset(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # best effort on a connection we are discarding
                logger.debug("error while closing a discarded connection", exc_info=True)

    def close(self) -> None:
        if self._pid == os.getpid():
            self._reset()
        self._connection = self._channel = None

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
            properties = pika.BasicProperties(
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

    def publish_many(self, items: list[tuple[str, dict | bytes, dict[str, Any]]]) -> None:
        """Publish ``(routing_key, body, kwargs)`` items in order, each confirmed.

        Stops at the first failure with :class:`PublishError`; earlier items stay published.
        """
        for routing_key, body, kwargs in items:
            self.publish(routing_key, body, **(kwargs or {}))


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
