"""Reads of the email service (list filter: filters.py)."""

from datetime import timedelta

from django.db.models import Count, F, Q
from django.utils import timezone

from emails.constants import HEARTBEAT_KEY, DeliveryStatus
from emails.filters import EmailNotificationFilter
from emails.models import EmailNotification
from notification_common.exceptions import NotFound
from notification_common.heartbeat import heartbeat_age_seconds


def email_list(*, filters: dict | None = None):
    """``filters``: ``status``, ``user_id``, ``recipient`` (any case), ``template_code``
    (emails.filters.EmailNotificationFilter); newest first."""
    return EmailNotificationFilter(filters or {}, queryset=EmailNotification.objects.all()).qs.order_by(
        "-created_at", "-id"
    )


def email_get(*, notification_id) -> EmailNotification:
    delivery = EmailNotification.objects.prefetch_related("attempt_log").filter(notification_id=notification_id).first()
    if delivery is None:
        raise NotFound(f"No email notification {notification_id}.")
    return delivery


def _counts_by_status(queryset) -> dict[str, int]:
    counts = dict.fromkeys(DeliveryStatus.ALL, 0)
    for row in queryset.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def email_stats(*, now=None) -> dict:
    """Counts by status (by when the notification reached this service) and the consumer's heartbeat."""
    now = now or timezone.now()
    queryset = EmailNotification.objects.all()
    try:
        heartbeat_age = heartbeat_age_seconds(HEARTBEAT_KEY)
    except Exception:  # noqa: BLE001 - stats still answer when Redis is down
        heartbeat_age = None
    return {
        "by_status": {
            "last_hour": _counts_by_status(queryset.filter(created_at__gte=now - timedelta(hours=1))),
            "last_day": _counts_by_status(queryset.filter(created_at__gte=now - timedelta(days=1))),
            "total": _counts_by_status(queryset),
        },
        "consumer": {"heartbeat_age_seconds": heartbeat_age},
    }


def email_unreported_list(*, limit: int = 10_000) -> list[EmailNotification]:
    """Final outcomes the user service has not acknowledged yet (oldest first)."""
    return list(
        EmailNotification.objects.filter(status__in=DeliveryStatus.FINAL)
        .filter(~Q(reported_status=F("status")))
        .order_by("updated_at")[:limit]
    )
