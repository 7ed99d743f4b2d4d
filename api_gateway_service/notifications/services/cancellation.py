"""Cancelling a scheduled notification while its outbox row is still unpublished."""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from notification_common.exceptions import ApplicationError
from notifications.constants import GatewayErrorCode, NotificationStatus
from notifications.models import NotificationRequest, OutboxMessage
from notifications.selectors import notification_get_for_sender

logger = logging.getLogger(__name__)


def notification_cancel(*, notification_id, sender: str, now: datetime | None = None) -> NotificationRequest:
    """Cancel the sender's scheduled notification while its outbox row is unpublished.

    The outbox row's lock decides a race with the relay: the relay holds it (FOR UPDATE SKIP
    LOCKED) while it publishes, so a cancel either waits and then sees the row published
    (409 already_published), or takes the lock first and the relay skips the row, then finds
    it cancelled. Cancelling again answers the cancelled notification (idempotent).
    """
    notification = notification_get_for_sender(notification_id=notification_id, sender=sender)
    now = now or timezone.now()
    with transaction.atomic():
        outbox = OutboxMessage.objects.select_for_update().get(notification_id=notification.pk)
        if outbox.cancelled_at is not None:
            return NotificationRequest.objects.get(pk=notification.pk)
        if outbox.published_at is not None:
            raise ApplicationError(
                GatewayErrorCode.ALREADY_PUBLISHED,
                f"Notification {notification.pk} was already handed to the broker; it can no longer be cancelled.",
                409,
                data={"notification_id": str(notification.pk), "published_at": outbox.published_at.isoformat()},
            )
        if outbox.due_at is None:
            # Published after commit without a lock of its own: cancelling it could not
            # promise anything, so only scheduled notifications are cancellable.
            raise ApplicationError(
                GatewayErrorCode.NOT_SCHEDULED,
                f"Notification {notification.pk} was sent without send_at; only scheduled ones can be cancelled.",
                409,
                data={"notification_id": str(notification.pk)},
            )
        outbox.cancelled_at = now
        outbox.save(update_fields=["cancelled_at"])
        NotificationRequest.objects.filter(pk=notification.pk).update(
            status=NotificationStatus.CANCELLED, cancelled_at=now, updated_at=now
        )
    logger.info("scheduled notification cancelled", extra={"notification_id": str(notification.pk)})
    return NotificationRequest.objects.select_related("outbox").get(pk=notification.pk)
