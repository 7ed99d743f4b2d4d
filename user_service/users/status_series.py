"""Delivered and failed per minute over a recent window, for the admin dashboard's time series.

Counted from the notification log by the time of each notification's final report
(``last_timestamp``), narrowed first through the ``updated_at`` index: a row reaches its
final status no later than its last update.
"""

from datetime import datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncMinute
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from notification_common.authentication import IsInternal
from notification_common.envelope import ok
from users.constants import DeliveryStatus
from users.models import NotificationLog

MAX_MINUTES = 24 * 60


def delivery_series(*, minutes: int = 60, now: datetime | None = None) -> dict:
    """``{"since", "until", "points": [{"minute", "delivered", "failed"}]}``, one point per minute
    (oldest first, the current minute last), zeros included."""
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


class DeliverySeriesApi(APIView):
    permission_classes = [IsInternal]

    class FilterSerializer(serializers.Serializer):
        minutes = serializers.IntegerField(required=False, default=60, min_value=1, max_value=MAX_MINUTES)

    @extend_schema(
        summary="Delivered and failed per minute (internal)",
        parameters=[FilterSerializer],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return ok(delivery_series(minutes=filters.validated_data["minutes"]))
