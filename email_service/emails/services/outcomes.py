"""Final outcomes settled outside a batch: a dead-lettered notification marked ``failed``
(never over a delivery or a live claim), and the status reports the user service acknowledged.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from emails.constants import DeliveryStatus
from emails.models import EmailNotification
from emails.services.claims import _claim_is_live


@transaction.atomic
def email_mark_failed(
    *, notification_id: str, failure_reason: str, body: dict | None = None, lease_seconds: float | None = None
) -> EmailNotification | None:
    """Mark a dead-lettered notification failed (creating its row for a malformed message).

    Final states never go back: returns None, changing nothing, when the notification was
    delivered, or when a consumer holds a live claim on it (it is being sent right now; that
    consumer decides the outcome). A dead-lettered duplicate therefore cannot turn a sent
    email into ``failed``.
    """
    body = body if isinstance(body, dict) else {}
    lease = timedelta(seconds=settings.EMAIL_SENDING_LEASE_SECONDS if lease_seconds is None else lease_seconds)
    row = EmailNotification.objects.select_for_update().filter(notification_id=notification_id).first()
    if row is None:
        recipient = body.get("recipient") if isinstance(body.get("recipient"), dict) else {}
        row = EmailNotification(
            notification_id=notification_id,
            user_id=_uuid_or_none(body.get("user_id")),
            recipient=str(recipient.get("email") or "")[:254],
            recipient_name=str(recipient.get("name") or "")[:200],
            template_code=str(body.get("template_code") or "")[:100],
            language=str(body.get("language") or "")[:35],
        )
    elif row.status == DeliveryStatus.DELIVERED or _claim_is_live(row, timezone.now(), lease):
        return None
    row.status = DeliveryStatus.FAILED
    row.last_error = failure_reason
    row.claimed_at = row.lease_expires_at = None
    row.save()
    return row


def _uuid_or_none(value) -> str | None:
    try:
        return str(uuid.UUID(str(value))) if value else None
    except ValueError:
        return None


def email_mark_reported(*, reports: list[tuple[str, str]]) -> int:
    """Record that the user service has the final status of these notifications."""
    updated = 0
    for status in DeliveryStatus.FINAL:
        ids = [notification_id for notification_id, reported in reports if reported == status]
        if ids:
            updated += EmailNotification.objects.filter(notification_id__in=ids, status=status).update(
                reported_status=status
            )
    return updated
