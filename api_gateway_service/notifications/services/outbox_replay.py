"""Operators give outbox rows back to the relay: a parked row once (``outbox_replay``, the
API and the Django admin), published rows again (``outbox_requeue``, the Django admin)."""

import logging
import uuid

from django.db import transaction
from django.utils import timezone

from notification_common.exceptions import ApplicationError, NotFound
from notifications.constants import OutboxErrorCode
from notifications.models import OutboxMessage

logger = logging.getLogger(__name__)


def outbox_requeue(*, outbox_ids: list[int]) -> int:
    """Mark published rows unpublished so the relay sends them again; returns how many."""
    return OutboxMessage.objects.filter(pk__in=outbox_ids, published_at__isnull=False).update(
        published_at=None, last_error=""
    )


def outbox_replay(*, notification_id) -> OutboxMessage:
    """Give a parked row back to the relay, once; 404 unknown, 409 not parked or replayed before.

    The refusal count starts over, so a row that is refused again is parked again after
    OUTBOX_MAX_PUBLISH_ATTEMPTS; it cannot be replayed a second time (like dead letters).
    """
    try:
        notification_id = uuid.UUID(str(notification_id))
    except ValueError:
        raise NotFound("Outbox message not found.") from None
    with transaction.atomic():
        row = OutboxMessage.objects.select_for_update().filter(notification_id=notification_id).first()
        if row is None:
            raise NotFound("Outbox message not found.")
        if row.cancelled_at is not None:
            raise ApplicationError(
                OutboxErrorCode.CANCELLED, f"Outbox message {row.message_id} was cancelled by its sender.", 409
            )
        if row.replayed_at is not None:
            raise ApplicationError(
                OutboxErrorCode.ALREADY_REPLAYED,
                f"Outbox message {row.message_id} was already replayed at {row.replayed_at.isoformat()}.",
                409,
            )
        if row.parked_at is None:
            raise ApplicationError(
                OutboxErrorCode.NOT_PARKED, f"Outbox message {row.message_id} is {row.status}, not parked.", 409
            )
        row.parked_at = None
        row.next_attempt_at = None
        row.failed_attempts = 0
        row.replayed_at = timezone.now()
        row.replay_count += 1
        row.save(update_fields=["parked_at", "next_attempt_at", "failed_attempts", "replayed_at", "replay_count"])
    logger.info("parked outbox row replayed", extra={"notification_id": row.message_id})
    return row
