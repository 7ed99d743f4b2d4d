"""Template categories (users opt out of the ones not ``required``)."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from message_templates import selectors
from message_templates.apis.common import CanReadTemplates
from message_templates.models import Category
from notification_common.pagination import paginate


class CategoryListApi(APIView):
    """The categories a template may have; users opt out of the ones not ``required``."""

    permission_classes = [CanReadTemplates]

    @extend_schema_serializer(component_name="CategoryOutput")
    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Category
            fields = ["code", "name", "description", "required"]

    @extend_schema(responses=OutputSerializer(many=True), summary="List template categories")
    def get(self, request):
        return paginate(selectors.category_list(), request, self.OutputSerializer)
