"""A feed of final delivery statuses, in the order they were received, for the gateway's
status webhooks (docs/api_gateway.md, "Status webhooks").

The reader keeps a cursor (received_at, id) and asks for what follows it. Only events
received more than ``settle_seconds`` ago (by this database's clock) are listed: a status
transaction that commits after a later one is still inside that window when the reader
passes its time, so a cursor never steps over an event that was not yet visible.
"""

from datetime import timedelta

from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import Now
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from notification_common.authentication import IsInternal
from notification_common.envelope import ok
from notification_common.schema import UNPAGINATED
from users.constants import DeliveryStatus
from users.models import NotificationStatusEvent

FEED_MAX_LIMIT = 1000
SETTLE_MAX_SECONDS = 3600


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


class StatusFeedEventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Cursor part: pass it back as after_id.")
    notification_id = serializers.UUIDField()
    channel = serializers.CharField()
    status = serializers.CharField()
    error = serializers.CharField()
    timestamp = serializers.DateTimeField(help_text="When the worker reported it (occurred_at).")
    received_at = serializers.DateTimeField(help_text="Cursor part: pass it back as after.")


class StatusEventFeedApi(APIView):
    """Final statuses (delivered, failed) after a cursor, oldest first (internal)."""

    permission_classes = [IsInternal]

    class StatusEventFeedFilterSerializer(serializers.Serializer):
        after = serializers.DateTimeField(required=False)
        after_id = serializers.IntegerField(required=False, default=0, min_value=0)
        settle_seconds = serializers.FloatField(required=False, default=2.0, min_value=0, max_value=SETTLE_MAX_SECONDS)
        limit = serializers.IntegerField(required=False, default=500, min_value=1, max_value=FEED_MAX_LIMIT)

    @extend_schema(
        summary="Final delivery statuses after a cursor (internal)",
        parameters=[StatusEventFeedFilterSerializer],
        responses=StatusFeedEventOutputSerializer(many=True),
        extensions={UNPAGINATED: True},  # a cursor feed: no page meta
    )
    def get(self, request):
        filters = self.StatusEventFeedFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        events = status_events_final_after(**filters.validated_data)
        return ok(StatusFeedEventOutputSerializer(events, many=True).data)
