"""Parked outbox rows of the gateway (platform_admin/outbox.py): list them, replay one."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from notification_common.client_ip import client_ip
from notification_common.envelope import ok
from notification_common.pagination import PageField
from notification_common.schema import error_responses
from platform_admin import outbox
from platform_admin.apis.common import ANY, ANY_LIST, query_validated


class OutboxParkedListApi(APIView):
    @extend_schema_serializer(component_name="OutboxParkedListFilter")
    class FilterSerializer(serializers.Serializer):
        page = PageField()
        limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: ANY_LIST},
        summary="Parked outbox messages (through the gateway)",
        operation_id="admin_outbox_parked_list",
    )
    def get(self, request):
        result = outbox.outbox_parked_list(**query_validated(self.FilterSerializer, request))
        return ok(result.data, meta=result.meta)


class OutboxReplayApi(APIView):
    @extend_schema(
        request=None,
        responses={200: ANY, **error_responses(409)},
        summary="Replay a parked outbox message (once)",
        operation_id="admin_outbox_replay",
    )
    def post(self, request, notification_id):
        row = outbox.outbox_replay(notification_id=notification_id, actor=request.user, ip=client_ip(request))
        return ok(row, message="Outbox message replayed: the gateway's relay publishes it shortly.")
