"""Helpers of the scheduled-send tests (test_scheduled_sends.py, test_scheduled_cancel.py)."""

from datetime import UTC, datetime

from notification_common.rabbitmq import EMAIL_QUEUE
from notification_devtools.testing.rabbit import drain
from notifications.models import OutboxMessage
from notifications.tests.factories import OutboxMessageFactory


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def scheduled_row(*, due_at, sender="key:bootstrap:test") -> OutboxMessage:
    return OutboxMessageFactory(
        due_at=due_at,
        notification__send_at=due_at,
        notification__status="scheduled",
        notification__sender=sender,
    )


def published_ids(channel) -> list[str]:
    return [message["notification_id"] for message, _ in drain(channel, EMAIL_QUEUE)]
