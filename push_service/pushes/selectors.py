"""Reads of the push service."""

from datetime import timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from notification_common.exceptions import NotFound
from notification_common.heartbeat import heartbeat_age_seconds
from pushes.constants import DEVICE_STATUSES, HEARTBEAT_KEY, NOTIFICATION_STATUSES
from pushes.models import PushDeviceResult, PushNotification


def push_notification_list(*, filters: dict | None = None) -> QuerySet[PushNotification]:
    filters = filters or {}
    queryset = PushNotification.objects.annotate(
        **{f"devices_{status}": Count("devices", filter=Q(devices__status=status)) for status in DEVICE_STATUSES}
    ).order_by("-created_at", "-id")
    if filters.get("status"):
        queryset = queryset.filter(status=filters["status"])
    if filters.get("user_id"):
        queryset = queryset.filter(user_id=filters["user_id"])
    return queryset


def push_notification_get(*, notification_id) -> PushNotification:
    notification = (
        push_notification_list()
        .prefetch_related(Prefetch("devices", queryset=PushDeviceResult.objects.order_by("created_at", "token")))
        .filter(notification_id=notification_id)
        .first()
    )
    if notification is None:
        raise NotFound(f"No push delivery for notification {notification_id}.")
    return notification


def push_stats() -> dict:
    """Counts by status for the admin dashboard (contract: docs/architecture.md, "Stats")."""
    now = timezone.now()
    windows = {"last_hour": now - timedelta(hours=1), "last_day": now - timedelta(days=1), "total": None}
    aggregates = {}
    for window, since in windows.items():
        for status in NOTIFICATION_STATUSES:
            condition = Q(status=status) if since is None else Q(status=status, created_at__gte=since)
            aggregates[f"{window}__{status}"] = Count("id", filter=condition)
    counts = PushNotification.objects.aggregate(**aggregates)
    by_status = {
        window: {status: counts[f"{window}__{status}"] for status in NOTIFICATION_STATUSES} for window in windows
    }
    try:
        age = heartbeat_age_seconds(HEARTBEAT_KEY)
    except Exception:  # Redis down: the stats still answer, without the heartbeat
        age = None
    return {"by_status": by_status, "consumer": {"heartbeat_age_seconds": age}}
