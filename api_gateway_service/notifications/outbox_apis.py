"""Internal API on the outbox: the rows the broker kept refusing (parked by the relay), and
their replay (docs/api_gateway.md, "Parked rows")."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from notification_common.authentication import IsInternal
from notification_common.envelope import ok
from notification_common.pagination import paginate
from notification_common.schema import error_responses
from notifications.selectors import outbox_parked_list
from notifications.services.outbox_replay import outbox_replay


class OutboxMessageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    notification_id = serializers.UUIDField()
    notification_type = serializers.CharField(source="notification.notification_type")
    routing_key = serializers.CharField()
    status = serializers.CharField()
    priority = serializers.IntegerField()
    body = serializers.JSONField()
    headers = serializers.JSONField()
    attempts = serializers.IntegerField()
    failed_attempts = serializers.IntegerField()
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    parked_at = serializers.DateTimeField(allow_null=True)
    published_at = serializers.DateTimeField(allow_null=True)
    replayed_at = serializers.DateTimeField(allow_null=True)
    replay_count = serializers.IntegerField()


class OutboxParkedListApi(APIView):
    """Outbox rows the broker kept refusing, set aside by the relay (internal keys only)."""

    permission_classes = [IsInternal]

    @extend_schema(operation_id="outbox_parked_list", responses=OutboxMessageOutputSerializer(many=True))
    def get(self, request):
        queryset = outbox_parked_list().select_related("notification")
        return paginate(queryset, request, OutboxMessageOutputSerializer)


class OutboxReplayApi(APIView):
    """Give a parked row back to the relay, once (409 when not parked or replayed before)."""

    permission_classes = [IsInternal]

    @extend_schema(
        operation_id="outbox_replay",
        request=None,
        responses={200: OutboxMessageOutputSerializer, **error_responses(409)},
    )
    def post(self, request, notification_id: str):
        row = outbox_replay(notification_id=notification_id)
        return ok(OutboxMessageOutputSerializer(row).data, message="Replayed: the relay publishes it shortly.")
