"""HTTP API of the push service (internal key): deliveries, per-device results, stats."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from notification_common.authentication import IsInternal
from notification_common.envelope import ok
from notification_common.pagination import paginate
from pushes.models import PushDeviceResult, PushNotification
from pushes.selectors import push_notification_get, push_notification_list, push_stats


class DeviceResultOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PushDeviceResult
        fields = ["token", "status", "error_code", "error_message", "message_id", "attempts", "updated_at"]


class PushOutputSerializer(serializers.ModelSerializer):
    devices_summary = serializers.SerializerMethodField()

    class Meta:
        model = PushNotification
        fields = [
            "notification_id",
            "user_id",
            "template_code",
            "language",
            "version",
            "title",
            "body",
            "status",
            "attempts",
            "last_error",
            "devices_summary",
            "delivered_at",
            "created_at",
            "updated_at",
        ]

    def get_devices_summary(self, obj) -> dict:
        return {status: getattr(obj, f"devices_{status}", 0) for status in PushDeviceResult.Status.values}


class PushDetailOutputSerializer(PushOutputSerializer):
    devices = DeviceResultOutputSerializer(many=True, read_only=True)

    class Meta(PushOutputSerializer.Meta):
        fields = [*PushOutputSerializer.Meta.fields, "image_url", "data", "devices"]


class PushListApi(APIView):
    permission_classes = [IsInternal]

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=PushNotification.Status.choices, required=False)
        user_id = serializers.UUIDField(required=False)

    @extend_schema(
        parameters=[FilterSerializer, OpenApiParameter("page", int), OpenApiParameter("limit", int)],
        responses=PushOutputSerializer(many=True),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return paginate(push_notification_list(filters=filters.validated_data), request, PushOutputSerializer)


class PushDetailApi(APIView):
    permission_classes = [IsInternal]

    @extend_schema(responses=PushDetailOutputSerializer)
    def get(self, request, notification_id):
        notification = push_notification_get(notification_id=notification_id)
        return ok(PushDetailOutputSerializer(notification).data)


class PushStatsApi(APIView):
    permission_classes = [IsInternal]

    class OutputSerializer(serializers.Serializer):
        by_status = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))
        consumer = serializers.DictField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return ok(self.OutputSerializer(push_stats()).data)
