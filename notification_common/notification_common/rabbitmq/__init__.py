"""RabbitMQ layer of the notification platform: the only place that imports pika.

Importing this package never imports Django; configuration comes from arguments, with
the broker URL defaulting to ``$RABBITMQ_URL``.

The names below are loaded lazily (PEP 562), so that
``python -m notification_common.rabbitmq.topology`` runs without the submodule having
been imported by the package first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from notification_common.rabbitmq.connection import connect
    from notification_common.rabbitmq.consumed import (
        BlockingDependency,
        ConsumedMessage,
        MalformedMessage,
        PermanentError,
        TransientError,
        caused_by_open_circuit,
        open_circuit_of,
    )
    from notification_common.rabbitmq.consumer import QueueConsumer
    from notification_common.rabbitmq.publisher import Publisher, PublishError, PublishRejected, get_publisher
    from notification_common.rabbitmq.retrying_consumer import BaseConsumer
    from notification_common.rabbitmq.storing_consumer import StoringConsumer
    from notification_common.rabbitmq.topology import (
        EMAIL_QUEUE,
        EXCHANGE,
        FAILED_PARKED_QUEUE,
        FAILED_QUEUE,
        PUSH_QUEUE,
        RETRY_TIERS,
        WORK_QUEUES,
        all_queues,
        declare_topology,
        declare_topology_from_url,
        default_url,
        delay_queue_for,
        queue_depths,
        queue_depths_from_url,
    )

_EXPORTS = {
    "connect": "connection",
    "BaseConsumer": "retrying_consumer",
    "QueueConsumer": "consumer",
    "StoringConsumer": "storing_consumer",
    "BlockingDependency": "consumed",
    "ConsumedMessage": "consumed",
    "MalformedMessage": "consumed",
    "PermanentError": "consumed",
    "TransientError": "consumed",
    "caused_by_open_circuit": "consumed",
    "open_circuit_of": "consumed",
    "PublishError": "publisher",
    "PublishRejected": "publisher",
    "Publisher": "publisher",
    "get_publisher": "publisher",
    "EMAIL_QUEUE": "topology",
    "EXCHANGE": "topology",
    "FAILED_PARKED_QUEUE": "topology",
    "FAILED_QUEUE": "topology",
    "PUSH_QUEUE": "topology",
    "RETRY_TIERS": "topology",
    "WORK_QUEUES": "topology",
    "all_queues": "topology",
    "declare_topology": "topology",
    "declare_topology_from_url": "topology",
    "default_url": "topology",
    "delay_queue_for": "topology",
    "queue_depths": "topology",
    "queue_depths_from_url": "topology",
}

__all__ = [
    "EMAIL_QUEUE",
    "EXCHANGE",
    "FAILED_PARKED_QUEUE",
    "FAILED_QUEUE",
    "PUSH_QUEUE",
    "RETRY_TIERS",
    "WORK_QUEUES",
    "BaseConsumer",
    "BlockingDependency",
    "QueueConsumer",
    "StoringConsumer",
    "ConsumedMessage",
    "MalformedMessage",
    "PermanentError",
    "PublishError",
    "PublishRejected",
    "Publisher",
    "TransientError",
    "all_queues",
    "caused_by_open_circuit",
    "connect",
    "declare_topology",
    "declare_topology_from_url",
    "default_url",
    "delay_queue_for",
    "get_publisher",
    "open_circuit_of",
    "queue_depths",
    "queue_depths_from_url",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"notification_common.rabbitmq.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
