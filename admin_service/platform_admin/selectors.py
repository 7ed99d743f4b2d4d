"""Reads of the admin service's own tables."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.utils.dateparse import parse_datetime
from redis.exceptions import RedisError

from notification_common.exceptions import NotFound
from notification_common.redis_client import get_redis
from platform_admin.constants import REDIS_API_KEY_LAST_USED
from platform_admin.models import ApiKey, AuditEntry, DeadLetter


def _get(model, pk, label: str):
    try:
        return model.objects.get(pk=pk)
    except (model.DoesNotExist, ValidationError, ValueError, TypeError) as exc:  # a malformed UUID: ValidationError
        raise NotFound(f"{label} not found.") from exc


def api_key_list(*, filters: dict | None = None) -> QuerySet[ApiKey]:
    filters = filters or {}
    queryset = ApiKey.objects.select_related("created_by").order_by("-created_at")
    if filters.get("revoked") is True:
        queryset = queryset.filter(revoked_at__isnull=False)
    elif filters.get("revoked") is False:
        queryset = queryset.filter(revoked_at__isnull=True)
    if filters.get("scope"):
        queryset = queryset.filter(scopes__contains=[filters["scope"]])
    if filters.get("search"):
        queryset = queryset.filter(Q(name__icontains=filters["search"]) | Q(prefix__startswith=filters["search"]))
    return queryset


def api_key_get(*, api_key_id) -> ApiKey:
    return _get(ApiKey, api_key_id, "API key")


def api_key_pending_usage() -> dict[str, datetime]:
    """Last uses noted in Redis and not yet written to the table (shown in lists)."""
    try:
        raw = get_redis().hgetall(REDIS_API_KEY_LAST_USED)
    except RedisError:
        return {}
    pending = {}
    for key_id, stamp in raw.items():
        when = parse_datetime(stamp.decode() if isinstance(stamp, bytes) else stamp)
        if when is not None:
            pending[key_id.decode() if isinstance(key_id, bytes) else key_id] = when
    return pending


def api_key_last_used(api_key: ApiKey, pending: dict[str, datetime]) -> datetime | None:
    candidates = [when for when in (api_key.last_used_at, pending.get(str(api_key.pk))) if when is not None]
    return max(candidates) if candidates else None


def dead_letter_list(*, filters: dict | None = None) -> QuerySet[DeadLetter]:
    filters = filters or {}
    queryset = DeadLetter.objects.order_by("-received_at")
    if filters.get("reason"):
        queryset = queryset.filter(reason__icontains=filters["reason"])
    if filters.get("channel"):
        queryset = queryset.filter(channel=filters["channel"])
    if filters.get("failure_kind"):
        queryset = queryset.filter(failure_kind=filters["failure_kind"])
    if filters.get("notification_id"):
        queryset = queryset.filter(notification_id=filters["notification_id"])
    if filters.get("replayed") is True:
        queryset = queryset.filter(replayed_at__isnull=False)
    elif filters.get("replayed") is False:
        queryset = queryset.filter(replayed_at__isnull=True)
    return queryset


def dead_letter_get(*, dead_letter_id) -> DeadLetter:
    return _get(DeadLetter, dead_letter_id, "Dead letter")


def dead_letter_counts() -> dict:
    counts = DeadLetter.objects.aggregate(
        total=Count("id"),
        pending=Count("id", filter=Q(replayed_at__isnull=True)),
        pending_email=Count("id", filter=Q(replayed_at__isnull=True, channel="email")),
        pending_push=Count("id", filter=Q(replayed_at__isnull=True, channel="push")),
        stored_reduced=Count("id", filter=Q(stored_reduced=True)),
    )
    return {
        "total": counts["total"],
        "pending": counts["pending"],
        "pending_by_channel": {"email": counts["pending_email"], "push": counts["pending_push"]},
        # Stored in a reduced form because they could not be stored as they came.
        "stored_reduced": counts["stored_reduced"],
    }


def audit_list(*, filters: dict | None = None) -> QuerySet[AuditEntry]:
    filters = filters or {}
    queryset = AuditEntry.objects.order_by("-created_at")
    if filters.get("action"):
        queryset = queryset.filter(action=filters["action"])
    if filters.get("actor"):
        queryset = queryset.filter(actor__iexact=filters["actor"])
    if filters.get("target"):
        queryset = queryset.filter(target__icontains=filters["target"])
    if filters.get("since"):
        queryset = queryset.filter(created_at__gte=filters["since"])
    if filters.get("until"):
        queryset = queryset.filter(created_at__lt=filters["until"])
    return queryset
