"""Reads of the admin service's own tables (list filters: filters.py)."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.utils.dateparse import parse_datetime
from redis.exceptions import RedisError

from notification_common.exceptions import NotFound
from notification_common.redis_client import get_redis
from platform_admin.constants import REDIS_API_KEY_LAST_USED
from platform_admin.filters import ApiKeyFilter, AuditFilter, DeadLetterFilter
from platform_admin.models import ApiKey, AuditEntry, DeadLetter


def _get(model, pk, label: str):
    try:
        return model.objects.get(pk=pk)
    except (model.DoesNotExist, ValidationError, ValueError, TypeError) as exc:  # a malformed UUID: ValidationError
        raise NotFound(f"{label} not found.") from exc


def api_key_list(*, filters: dict | None = None) -> QuerySet[ApiKey]:
    queryset = ApiKey.objects.select_related("created_by").order_by("-created_at")
    return ApiKeyFilter(filters or {}, queryset=queryset).qs


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
    return DeadLetterFilter(filters or {}, queryset=DeadLetter.objects.order_by("-received_at")).qs


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
    return AuditFilter(filters or {}, queryset=AuditEntry.objects.order_by("-created_at")).qs
