"""HTTP API of the email service (internal scope): deliveries, one delivery with its attempts, stats."""

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from emails.constants import DeliveryStatus
from emails.models import EmailAttempt, EmailNotification
from emails.selectors import email_get, email_list, email_stats
from notification_common.authentication import IsInternal
from notification_common.envelope import ok
from notification_common.exceptions import ApplicationError, ErrorCode
from notification_common.pagination import paginate


@extend_schema_serializer(component_name="EmailDelivery")
class EmailOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmailNotification
        fields = [
            "notification_id",
            "user_id",
            "recipient",
            "template_code",
            "language",
            "rendered_language",
            "template_version",
            "subject",
            "status",
            "attempts",
            "last_error",
            "smtp_code",
            "message_id",
            "sent_at",
            "created_at",
            "updated_at",
        ]


@extend_schema_serializer(component_name="EmailAttempt")
class EmailAttemptOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmailAttempt
        fields = [
            "attempt_number",
            "queue_attempt",
            "outcome",
            "stage",
            "error",
            "smtp_code",
            "duration_ms",
            "created_at",
        ]


class EmailListApi(APIView):
    permission_classes = [IsInternal]

    @extend_schema_serializer(component_name="EmailListFilter")
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=DeliveryStatus.ALL, required=False)
        user_id = serializers.UUIDField(required=False)
        recipient = serializers.CharField(required=False, max_length=254)
        template_code = serializers.CharField(required=False, max_length=100)

    @extend_schema(
        operation_id="emails_list",
        parameters=[FilterSerializer],
        responses=EmailOutputSerializer(many=True),
        summary="Email deliveries, newest first (internal key)",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return paginate(email_list(filters=filters.validated_data), request, EmailOutputSerializer)


class EmailDetailApi(APIView):
    permission_classes = [IsInternal]

    @extend_schema_serializer(component_name="EmailDeliveryDetail")
    class OutputSerializer(EmailOutputSerializer):
        history = EmailAttemptOutputSerializer(source="attempt_log", many=True, read_only=True)

        class Meta(EmailOutputSerializer.Meta):
            fields = [*EmailOutputSerializer.Meta.fields, "recipient_name", "trace_id", "history"]

    @extend_schema(
        operation_id="emails_retrieve",
        responses=OutputSerializer,
        summary="One email delivery with its attempts (internal key)",
    )
    def get(self, request, notification_id: str):
        try:
            notification_id = uuid.UUID(notification_id)
        except ValueError:
            raise ApplicationError(
                ErrorCode.VALIDATION_ERROR,
                "notification_id must be a UUID.",
                data={"notification_id": ["Must be a valid UUID."]},
            ) from None
        return ok(self.OutputSerializer(email_get(notification_id=notification_id)).data)


class EmailStatsApi(APIView):
    permission_classes = [IsInternal]

    @extend_schema(
        operation_id="emails_stats",
        responses=OpenApiTypes.OBJECT,
        summary="Counts by status (last hour, last day, total) and the consumer's heartbeat (internal key)",
    )
    def get(self, request):
        return ok(email_stats())
