"""Blocking connections to RabbitMQ with the platform's defaults."""

from __future__ import annotations

import pika

from notification_common.rabbitmq.topology import default_url

__all__ = ["connect"]


def connect(
    url: str | None = None,
    *,
    heartbeat: int = 30,
    blocked_connection_timeout: float = 30,
    connection_attempts: int = 1,
    socket_timeout: float = 5,
    connection_name: str | None = None,
) -> pika.BlockingConnection:
    """Open a ``BlockingConnection`` to ``url`` (default ``$RABBITMQ_URL``).

    The keyword arguments override whatever the URL's query string says.
    ``connection_name`` shows up in the management UI / ``rabbitmqctl list_connections``.
    """
    params = pika.URLParameters(url or default_url())
    params.heartbeat = heartbeat
    params.blocked_connection_timeout = blocked_connection_timeout
    params.connection_attempts = connection_attempts
    params.socket_timeout = socket_timeout
    if connection_name:
        params.client_properties = {"connection_name": connection_name}
    return pika.BlockingConnection(params)
