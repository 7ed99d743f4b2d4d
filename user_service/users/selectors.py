"""Reads of the user service."""

import uuid
from datetime import timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from notification_common.exceptions import NotFound
from users.constants import Channel, DeliveryStatus
from users.models import Device, NotificationLog, User


def _users_with_profile() -> QuerySet[User]:
    # Two queries for any page of users: users joined to preferences, then their active devices.
    return User.objects.select_related("preferences").prefetch_related(
        Prefetch("devices", queryset=Device.objects.filter(active=True), to_attr="active_devices")
    )


def user_get(*, user_id: uuid.UUID) -> User:
    """One user with preferences and active devices: two indexed queries, no prefetch machinery
    (this is the lookup the gateway makes for every notification)."""
    try:
        user = User.objects.select_related("preferences").get(id=user_id)
    except User.DoesNotExist:
        raise NotFound("User not found.") from None
    user.active_devices = list(Device.objects.filter(user_id=user.id, active=True))
    return user


def user_list(*, search: str = "") -> QuerySet[User]:
    users = _users_with_profile()
    search = search.strip()
    if search:
        users = users.filter(Q(email__icontains=search) | Q(name__icontains=search))
    return users.order_by("-created_at", "id")


def device_list(*, user_id: uuid.UUID) -> QuerySet[Device]:
    return Device.objects.filter(user_id=user_id).order_by("-last_seen", "id")


def notification_log_list(*, user_id: uuid.UUID, channel: str = "", status: str = "") -> QuerySet[NotificationLog]:
    logs = NotificationLog.objects.filter(user_id=user_id)
    if channel:
        logs = logs.filter(channel=channel)
    if status:
        logs = logs.filter(status=status)
    return logs.order_by("-created_at", "-id")


def notification_status_get(*, notification_id: uuid.UUID) -> NotificationLog:
    log = NotificationLog.objects.prefetch_related("events").filter(notification_id=notification_id).first()
    if log is None:
        raise NotFound("Notification not found.")
    return log


def _notification_counts(since=None) -> dict:
    logs = NotificationLog.objects.all()
    if since is not None:
        logs = logs.filter(updated_at__gte=since)
    by_status = dict.fromkeys(DeliveryStatus.ALL, 0)
    by_channel = dict.fromkeys(Channel.ALL, 0)
    for row in logs.values("channel", "status").annotate(n=Count("id")).order_by():
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["n"]
        by_channel[row["channel"]] = by_channel.get(row["channel"], 0) + row["n"]
    return {"by_status": by_status, "by_channel": by_channel}


def user_stats() -> dict:
    """Figures for the admin dashboard. Notification windows count rows by their last update."""
    now = timezone.now()
    users = User.objects.aggregate(total=Count("id"), active=Count("id", filter=Q(is_active=True)))
    devices = Device.objects.aggregate(total=Count("id"), active=Count("id", filter=Q(active=True)))
    return {
        "users": users,
        "devices": devices,
        "notifications": {
            "last_hour": _notification_counts(now - timedelta(hours=1)),
            "last_day": _notification_counts(now - timedelta(days=1)),
            "total": _notification_counts(),
        },
    }
