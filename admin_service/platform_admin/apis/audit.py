"""The audit log of admin actions (written by services/audit.py)."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from notification_common.pagination import paginate
from platform_admin import selectors
from platform_admin.apis.common import query_validated
from platform_admin.constants import AuditAction


class AuditOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    actor = serializers.CharField()
    action = serializers.CharField()
    target = serializers.CharField()
    details = serializers.JSONField()
    ip = serializers.CharField()
    created_at = serializers.DateTimeField()


class AuditListApi(APIView):
    @extend_schema_serializer(component_name="AuditListFilter")
    class FilterSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=[a for a, _ in AuditAction.CHOICES], required=False)
        actor = serializers.CharField(required=False, max_length=150)
        target = serializers.CharField(required=False, max_length=255)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

    @extend_schema(parameters=[FilterSerializer], responses=AuditOutputSerializer(many=True), summary="Audit log")
    def get(self, request):
        filters = query_validated(self.FilterSerializer, request)
        return paginate(selectors.audit_list(filters=filters), request, AuditOutputSerializer)
