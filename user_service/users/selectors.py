"""Reads of the user service: users, devices, the notification log, and the figures and
feeds other services read from it (the gateway's status webhooks, the admin dashboard)."""

import json
import uuid
from datetime import UTC, datetime, timedelta

from django.db.models import Count, DateTimeField, ExpressionWrapper, F, Prefetch, Q, QuerySet
from django.db.models.functions import Now, TruncMinute
from django.utils import timezone

from notification_common.exceptions import ApplicationError, ErrorCode, NotFound
from users.constants import Channel, DeliveryStatus, UserErrorCode
from users.filters import NotificationLogFilter, UserFilter
from users.models import Device, NotificationLog, NotificationStatusEvent, Preferences, User
from users.sql import fetch_prepared


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


# The user as UserOutputSerializer describes it, in one statement: the user, its preferences and
# its active devices (one row per device, the user's columns repeated; users have few devices).
_USER_PROFILE = f"""
SELECT u.id, u.name, u.email, u.is_active, u.created_at,
       p.user_id IS NOT NULL, p.email, p.push, p.timezone, p.quiet_hours, p.categories,
       d.id, d.token, d.platform, d.name, d.active, d.last_seen, d.created_at
FROM {User._meta.db_table} u
LEFT JOIN {Preferences._meta.db_table} p ON p.user_id = u.id
LEFT JOIN {Device._meta.db_table} d ON d.user_id = u.id AND d.active
WHERE u.id = %s
ORDER BY d.last_seen DESC, d.id
"""


def _drf_datetime(value: datetime) -> str:
    """A datetime as DRF's DateTimeField writes it (UTC, ``Z`` for ``+00:00``)."""
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _json_value(value):
    # Django's psycopg 3 backend hands jsonb over as text (JSONField decodes it itself).
    return json.loads(value) if isinstance(value, str) else value


def user_profile_get(*, user_id: uuid.UUID) -> dict:
    """The user as ``UserOutputSerializer`` writes it (preferences, active devices), read in one
    statement and built as plain data. This is the lookup the gateway makes for every
    notification it does not have cached: the ORM's query building and the serializer's fields
    were most of its CPU (docs/user_service.md, "Cost of the delivery path"); a test holds the
    two shapes equal."""
    rows = fetch_prepared(_USER_PROFILE, [user_id])
    if not rows:
        raise NotFound("User not found.")
    first = rows[0]
    has_preferences = first[5]
    if has_preferences:
        preferences = {
            "email": first[6],
            "push": first[7],
            "timezone": first[8],
            "quiet_hours": _json_value(first[9]),
            "categories": _json_value(first[10]) or {},
        }
    else:  # users made outside user_create (createsuperuser) get the defaults
        defaults = Preferences()
        preferences = {
            "email": defaults.email,
            "push": defaults.push,
            "timezone": defaults.timezone,
            "quiet_hours": defaults.quiet_hours,
            "categories": defaults.categories or {},
        }
    devices = [
        {
            "id": str(row[11]),
            "token": row[12],
            "platform": row[13],
            "name": row[14],
            "active": row[15],
            "last_seen": _drf_datetime(row[16]),
            "created_at": _drf_datetime(row[17]),
        }
        for row in rows
        if row[11] is not None
    ]
    return {
        "id": str(first[0]),
        "name": first[1],
        "email": first[2],
        "is_active": first[3],
        "preferences": preferences,
        "devices": devices,
        "created_at": _drf_datetime(first[4]),
    }


def user_get_for_token(*, user_id: str | None) -> User:
    """The account behind a user token (its ``user_id`` claim): 401 when it no longer exists,
    403 when it is deactivated."""
    try:
        user_uuid = uuid.UUID(user_id)
    except (TypeError, ValueError):
        user_uuid = None
    user = User.objects.select_related("preferences").filter(id=user_uuid).first() if user_uuid else None
    if user is None:
        raise ApplicationError(ErrorCode.AUTHENTICATION_FAILED, "The account behind this token no longer exists.", 401)
    if not user.is_active:
        raise ApplicationError(UserErrorCode.ACCOUNT_INACTIVE, "This account is deactivated.", 403)
    return user


def user_list(*, filters: dict | None = None) -> QuerySet[User]:
    """``filters``: ``search`` (in email and name), users.filters.UserFilter."""
    return UserFilter(filters, _users_with_profile()).qs.order_by("-created_at", "id")


def device_list(*, user_id: uuid.UUID) -> QuerySet[Device]:
    return Device.objects.filter(user_id=user_id).order_by("-last_seen", "id")


def notification_log_list(*, user_id: uuid.UUID, filters: dict | None = None) -> QuerySet[NotificationLog]:
    """``filters``: ``channel``, ``status``, users.filters.NotificationLogFilter."""
    logs = NotificationLog.objects.filter(user_id=user_id)
    return NotificationLogFilter(filters, logs).qs.order_by("-created_at", "-id")


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


# --- the final-status feed (docs/api_gateway.md, "Status webhooks") ---------------------------
# The reader keeps a cursor (received_at, id) and asks for what follows it. Only events
# received more than ``settle_seconds`` ago (by this database's clock) are listed: a status
# transaction that commits after a later one is still inside that window when the reader
# passes its time, so a cursor never steps over an event that was not yet visible.


def status_events_final_after(
    *, after=None, after_id: int = 0, settle_seconds: float = 2.0, limit: int = 500
) -> QuerySet[NotificationStatusEvent]:
    settled = ExpressionWrapper(Now() - timedelta(seconds=settle_seconds), output_field=DateTimeField())
    events = NotificationStatusEvent.objects.filter(status__in=DeliveryStatus.FINAL, received_at__lt=settled)
    if after is not None:
        # (received_at, id) > (after, after_id), spelled so the range on received_at uses the
        # feed's partial index (users_nevent_final_feed_idx).
        events = events.filter(Q(received_at__gt=after) | Q(id__gt=after_id), received_at__gte=after)
    return (
        events.annotate(notification_id=F("log__notification_id"), channel=F("log__channel"))
        .order_by("received_at", "id")
        .values("id", "notification_id", "channel", "status", "error", "timestamp", "received_at")[:limit]
    )


# --- the admin dashboard's time series ---------------------------------------------------------


def delivery_series(*, minutes: int = 60, now: datetime | None = None) -> dict:
    """Delivered and failed per minute: ``{"since", "until", "points": [{"minute", "delivered",
    "failed"}]}``, one point per minute (oldest first, the current minute last), zeros included.

    Counted from the notification log by the time of each notification's final report
    (``last_timestamp``), narrowed first through the ``updated_at`` index: a row reaches its
    final status no later than its last update.
    """
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    since = now - timedelta(minutes=minutes - 1)
    rows = (
        NotificationLog.objects.filter(
            updated_at__gte=since, last_timestamp__gte=since, status__in=DeliveryStatus.FINAL
        )
        .annotate(minute=TruncMinute("last_timestamp"))
        .values("minute", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {(row["minute"], row["status"]): row["n"] for row in rows}
    points = []
    for index in range(minutes):
        minute = since + timedelta(minutes=index)
        points.append(
            {
                "minute": minute.isoformat(),
                "delivered": counts.get((minute, DeliveryStatus.DELIVERED), 0),
                "failed": counts.get((minute, DeliveryStatus.FAILED), 0),
            }
        )
    return {"since": since.isoformat(), "until": (now + timedelta(minutes=1)).isoformat(), "points": points}
