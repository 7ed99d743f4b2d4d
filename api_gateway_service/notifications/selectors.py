"""Reads of the gateway's own records."""

import uuid
from datetime import timedelta

from django.db import connection
from django.db.models import Count, Min, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from notification_common.exceptions import NotFound
from notifications.constants import NotificationType
from notifications.filters import MessageLogFilter, NotificationFilter, filtered
from notifications.models import NotificationRequest, OutboxMessage


def notification_get_by_idempotency_key(*, sender: str, idempotency_key: str) -> NotificationRequest | None:
    # Asked on every send with a key and almost always empty: a fixed SQL string for the id
    # alone (building the ORM query cost more CPU than running it); the row is loaded only for
    # a real duplicate.
    with connection.cursor() as cursor:
        cursor.execute(_ID_BY_IDEMPOTENCY_KEY, [sender, idempotency_key])
        found = cursor.fetchone()
    return NotificationRequest.objects.get(pk=found[0]) if found else None


_ID_BY_IDEMPOTENCY_KEY = (
    f"SELECT id FROM {NotificationRequest._meta.db_table} WHERE sender = %s AND idempotency_key = %s LIMIT 1"
)


def notification_get_for_sender(*, notification_id: str, sender: str) -> NotificationRequest:
    """The sender's own notification; anyone else gets the same 404 as for an unknown id."""
    try:
        notification_id = uuid.UUID(str(notification_id))
        return NotificationRequest.objects.select_related("outbox").get(pk=notification_id, sender=sender)
    except (NotificationRequest.DoesNotExist, ValueError):
        raise NotFound("Notification not found.") from None


def notification_list(*, sender: str, filters: dict | None = None) -> QuerySet[NotificationRequest]:
    queryset = NotificationRequest.objects.select_related("outbox").filter(sender=sender)
    return filtered(NotificationFilter, filters, queryset).order_by("-created_at", "-id")


def message_log_search(*, filters: dict) -> QuerySet[NotificationRequest]:
    """Notifications of every sender matching the operators' filters, newest first."""
    queryset = NotificationRequest.objects.select_related("outbox")
    return filtered(MessageLogFilter, filters, queryset).order_by("-created_at", "id")


def outbox_backlog() -> dict:
    """Rows waiting to be published, the age in seconds of the oldest (0 when none), and the
    parked rows (set aside after repeated refusals; not part of the backlog).

    A scheduled row joins the backlog when it falls due, aged from its due time: a month of
    scheduled sends is not a stale outbox, one due a minute ago and still unpublished is late.
    """
    now = timezone.now()
    result = (
        OutboxMessage.objects.filter(published_at__isnull=True, parked_at__isnull=True, cancelled_at__isnull=True)
        .filter(Q(due_at__isnull=True) | Q(due_at__lte=now))
        .aggregate(backlog=Count("id"), oldest=Min(Coalesce("due_at", "created_at")))
    )
    oldest = result["oldest"]
    age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    parked = OutboxMessage.objects.filter(parked_at__isnull=False).count()
    return {"backlog": result["backlog"], "oldest_age_seconds": round(age, 3), "parked": parked}


def outbox_parked_list():
    """Parked rows, most recently parked first."""
    return OutboxMessage.objects.filter(parked_at__isnull=False).order_by("-parked_at", "-id")


def notification_stats() -> dict:
    now = timezone.now()
    windows = {"last_hour": now - timedelta(hours=1), "last_day": now - timedelta(days=1), "total": None}
    aggregates = {}
    for window, since in windows.items():
        for channel in NotificationType.values:
            condition = Q(notification_type=channel)
            if since is not None:
                condition &= Q(created_at__gte=since)
            aggregates[f"{window}__{channel}"] = Count("id", filter=condition)
    counts = NotificationRequest.objects.aggregate(**aggregates)
    accepted = {
        window: {channel: counts[f"{window}__{channel}"] for channel in NotificationType.values} for window in windows
    }
    return {"outbox": outbox_backlog(), "accepted": accepted}
