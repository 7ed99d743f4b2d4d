"""The operators' message log (admin service): find notifications by id, request_id or user,
across senders, and read one's gateway side (accepted, scheduled, published, cancelled).
Internal keys only; senders read their own through /notifications/ (docs/admin_service.md,
"Message log")."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from notification_common.authentication import IsInternal
from notification_common.exceptions import ApplicationError, ErrorCode
from notification_common.pagination import paginate
from notifications.selectors import message_log_search


class MessageLogSearchApi(APIView):
    """Newest first, paginated (``?page=&limit=``)."""

    permission_classes = [IsInternal]

    class FilterSerializer(serializers.Serializer):
        notification_id = serializers.UUIDField(required=False)
        request_id = serializers.CharField(required=False, max_length=128)
        user_id = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=50)

    class MessageLogEntrySerializer(serializers.Serializer):
        notification_id = serializers.UUIDField(source="id")
        sender = serializers.CharField()
        request_id = serializers.CharField(source="idempotency_key", allow_null=True)
        notification_type = serializers.CharField()
        user_id = serializers.UUIDField()
        template_code = serializers.CharField()
        language = serializers.CharField()
        priority = serializers.IntegerField()
        status = serializers.CharField()
        trace_id = serializers.CharField()
        created_at = serializers.DateTimeField()
        send_at = serializers.DateTimeField(allow_null=True)
        cancelled_at = serializers.DateTimeField(allow_null=True)
        quiet_hours_deferred = serializers.BooleanField()
        published_at = serializers.SerializerMethodField()
        outbox_attempts = serializers.SerializerMethodField()
        outbox_last_error = serializers.SerializerMethodField()

        def _outbox(self, notification):
            return getattr(notification, "outbox", None)

        def get_published_at(self, notification) -> str | None:
            outbox = self._outbox(notification)
            return (
                serializers.DateTimeField().to_representation(outbox.published_at)
                if outbox and outbox.published_at
                else None
            )

        def get_outbox_attempts(self, notification) -> int:
            outbox = self._outbox(notification)
            return outbox.attempts if outbox else 0

        def get_outbox_last_error(self, notification) -> str:
            outbox = self._outbox(notification)
            return outbox.last_error if outbox else ""

    @extend_schema(
        operation_id="message_log_search",
        parameters=[FilterSerializer],
        responses=MessageLogEntrySerializer(many=True),
    )
    def get(self, request):
        params = {
            "notification_id": request.query_params.get("notification_id"),
            "request_id": request.query_params.get("request_id"),
            "user_id": request.query_params.getlist("user_id"),
        }
        filters = self.FilterSerializer(data={k: v for k, v in params.items() if v})
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        if not data:
            message = "Give notification_id, request_id or user_id."
            raise ApplicationError(ErrorCode.VALIDATION_ERROR, message, data={"notification_id": [message]})
        return paginate(message_log_search(filters=data), request, self.MessageLogEntrySerializer)
