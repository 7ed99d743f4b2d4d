"""Templates: list, create, read (with a version in the best language), change, delete, and
the counts for the admin dashboard."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from message_templates import selectors, services
from message_templates.apis.common import (
    CODE_PARAMETER,
    LanguageField,
    ReadsForTemplateReadersWritesForTemplateWriters,
)
from message_templates.apis.versions import VersionContentInputSerializer, VersionOutputSerializer
from message_templates.models import DEFAULT_CATEGORY, Channel, Template
from notification_common.authentication import IsInternal
from notification_common.envelope import ok
from notification_common.pagination import paginate
from notification_common.schema import error_responses


class TemplateOutputSerializer(serializers.ModelSerializer):
    languages = serializers.SerializerMethodField(help_text="Active version number per language.")
    category = serializers.CharField(source="category_id", help_text="The category's code.")
    category_required = serializers.BooleanField(
        source="category.required", help_text="Whether users may not opt out of this template's category."
    )

    class Meta:
        model = Template
        fields = [
            "id",
            "code",
            "channel",
            "default_language",
            "description",
            "user_triggerable",
            "category",
            "category_required",
            "languages",
            "created_at",
            "updated_at",
        ]

    def get_languages(self, template) -> dict[str, int]:
        return selectors.active_languages(template)


class TemplateListCreateApi(APIView):
    permission_classes = [ReadsForTemplateReadersWritesForTemplateWriters]

    @extend_schema_serializer(component_name="TemplateListFilter")
    class FilterSerializer(serializers.Serializer):
        channel = serializers.ChoiceField(choices=Channel.choices, required=False)
        language = LanguageField(required=False)
        search = serializers.CharField(required=False, max_length=100)

    @extend_schema_serializer(component_name="TemplateCreateInput")
    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=services.MAX_CODE_LENGTH)
        channel = serializers.ChoiceField(choices=Channel.choices)
        default_language = LanguageField(required=False)
        description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
        user_triggerable = serializers.BooleanField(required=False, default=False)
        category = serializers.SlugField(required=False, default=DEFAULT_CATEGORY, max_length=50)
        versions = VersionContentInputSerializer(many=True, allow_empty=False)

    @extend_schema_serializer(component_name="TemplateCreateOutput")
    class OutputSerializer(TemplateOutputSerializer):
        versions = serializers.SerializerMethodField()

        class Meta(TemplateOutputSerializer.Meta):
            fields = [*TemplateOutputSerializer.Meta.fields, "versions"]

        def get_versions(self, template) -> list[dict]:
            versions = selectors.template_version_list(template=template)
            return VersionOutputSerializer(versions, many=True).data

    @extend_schema(
        parameters=[FilterSerializer],
        responses=TemplateOutputSerializer(many=True),
        summary="List templates (filter by channel and language, search by code)",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = selectors.template_list(**filters.validated_data)
        return paginate(queryset, request, TemplateOutputSerializer)

    @extend_schema(
        request=InputSerializer, responses={201: OutputSerializer, **error_responses(409)}, summary="Create a template"
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = services.template_create(**serializer.validated_data)
        template = selectors.template_get(code=template.code)
        return ok(self.OutputSerializer(template).data, message="Template created.", status=201)


class TemplateDetailApi(APIView):
    permission_classes = [ReadsForTemplateReadersWritesForTemplateWriters]

    @extend_schema_serializer(component_name="TemplateRetrieveFilter")
    class FilterSerializer(serializers.Serializer):
        language = LanguageField(required=False)
        version = serializers.IntegerField(required=False, min_value=1)

    @extend_schema_serializer(component_name="TemplateRetrieveOutput")
    class OutputSerializer(TemplateOutputSerializer):
        requested_language = serializers.CharField()
        language = serializers.CharField()
        version = serializers.SerializerMethodField()

        class Meta(TemplateOutputSerializer.Meta):
            fields = [*TemplateOutputSerializer.Meta.fields, "requested_language", "language", "version"]

        def get_version(self, template) -> dict:
            return VersionOutputSerializer(template.selected_version).data

    @extend_schema(
        parameters=[CODE_PARAMETER, FilterSerializer],
        responses=OutputSerializer,
        summary="A template with its active version (or ?version=) in the best available language",
    )
    def get(self, request, code: str):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        template = selectors.template_with_version_get(code=code, **filters.validated_data)
        return ok(self.OutputSerializer(template).data)

    @extend_schema_serializer(component_name="TemplateUpdateInput")
    class UpdateInputSerializer(serializers.Serializer):
        description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
        user_triggerable = serializers.BooleanField(required=False)
        category = serializers.SlugField(required=False, max_length=50)

        def validate(self, attrs):
            if not attrs:
                raise serializers.ValidationError("Give description, user_triggerable and/or category.")
            return attrs

    @extend_schema(
        parameters=[CODE_PARAMETER],
        request=UpdateInputSerializer,
        responses=TemplateOutputSerializer,
        summary="Change a template's description, category, or whether user tokens may trigger it",
    )
    def patch(self, request, code: str):
        serializer = self.UpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = services.template_update(template=selectors.template_get(code=code), **serializer.validated_data)
        return ok(
            TemplateOutputSerializer(selectors.template_get(code=template.code)).data, message="Template updated."
        )

    @extend_schema(
        parameters=[CODE_PARAMETER],
        responses={
            200: inline_serializer(
                "TemplateDeleted",
                {
                    "code": serializers.CharField(),
                    "id": serializers.UUIDField(),
                    "deleted_at": serializers.DateTimeField(),
                },
            )
        },
        summary="Soft-delete a template (answers 200 with what was deleted)",
    )
    def delete(self, request, code: str):
        template = services.template_delete(template=selectors.template_get(code=code))
        return ok(
            {"code": template.code, "id": str(template.id), "deleted_at": template.deleted_at.isoformat()},
            message=f"Template '{template.code}' deleted.",
        )


class TemplateStatsApi(APIView):
    permission_classes = [IsInternal]

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Counts for the admin dashboard (internal)")
    def get(self, request):
        return ok(selectors.template_stats())
