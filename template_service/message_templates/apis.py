"""Thin views: validate the request shape, call a selector or service, serialize the answer.

Reads and substitution need an API key with ``templates:read`` (or ``templates:write`` or
``internal``): template texts are the platform's, not every end user's. Writes need
``templates:write`` or ``internal``.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.views import APIView

from message_templates import selectors, services
from message_templates.models import DEFAULT_CATEGORY, Category, Channel, Template, TemplateVersion
from notification_common.api_keys import Scope
from notification_common.authentication import HasScope, IsInternal
from notification_common.envelope import ok
from notification_common.languages import InvalidLanguage, normalize_language
from notification_common.pagination import paginate
from notification_common.schema import error_responses
from notification_common.validation import SingleLineTextValidator

CanWriteTemplates = HasScope.of(Scope.TEMPLATES_WRITE, Scope.INTERNAL)
# Some paths under /templates/ are routes of their own (stats, substitute), so no template code
# can be one of those words (template_create refuses them): the schema says so too.
CODE_PARAMETER = OpenApiParameter(
    "code",
    {"type": "string", "pattern": rf"^(?!(?:{'|'.join(sorted(services.RESERVED_CODES))})$)[^/]+$"},
    OpenApiParameter.PATH,
    description="The template's code (never one of the reserved words that name other operations).",
)
CanReadTemplates = HasScope.of(Scope.TEMPLATES_READ, Scope.TEMPLATES_WRITE, Scope.INTERNAL)


class ReadsForTemplateReadersWritesForTemplateWriters(BasePermission):
    message = "Templates need an API key with the templates:read scope to read, templates:write to change."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return CanReadTemplates().has_permission(request, view)
        return CanWriteTemplates().has_permission(request, view)


class LanguageField(serializers.CharField):
    """A language tag, normalised (``pt-br`` -> ``pt-BR``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 35)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return normalize_language(value)
        except InvalidLanguage as exc:
            raise serializers.ValidationError(str(exc)) from exc


def _text(max_length: int, **kwargs) -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=max_length, **kwargs
    )


class VersionContentInputSerializer(serializers.Serializer):
    """The fields of one version; which are required depends on the channel (checked by the service)."""

    language = LanguageField()
    # Subjects and titles are one line: a control character would reach an email header or a notification.
    subject = _text(services.MAX_LENGTHS["subject"], validators=[SingleLineTextValidator()])
    text_body = _text(services.MAX_LENGTHS["text_body"])
    html_body = _text(services.MAX_LENGTHS["html_body"])
    title = _text(services.MAX_LENGTHS["title"], validators=[SingleLineTextValidator()])
    body = _text(services.MAX_LENGTHS["body"])
    image_url = _text(services.MAX_LENGTHS["image_url"])
    data = serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False), required=False)


class VersionOutputSerializer(serializers.ModelSerializer):
    """A version with the fields of its template's channel only."""

    class Meta:
        model = TemplateVersion
        fields = [
            "id",
            "language",
            "version",
            "is_active",
            "variables",
            "subject",
            "text_body",
            "html_body",
            "title",
            "body",
            "image_url",
            "data",
            "created_at",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        unused = (
            ("title", "body", "image_url", "data")
            if instance.template.channel == Channel.EMAIL
            else (
                "subject",
                "text_body",
                "html_body",
            )
        )
        for field in unused:
            data.pop(field)
        return data


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
        template = selectors.template_get(code=code)
        index = selectors.active_index_of(template)
        requested = filters.validated_data.get("language") or template.default_language
        language = selectors.language_resolve(index=index, requested=requested)
        number = filters.validated_data.get("version") or index.active[language]
        template.selected_version = selectors.template_version_get(template=template, language=language, version=number)
        template.requested_language = requested
        template.language = language
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


class TemplateVersionListCreateApi(APIView):
    permission_classes = [ReadsForTemplateReadersWritesForTemplateWriters]

    @extend_schema_serializer(component_name="TemplateVersionListFilter")
    class FilterSerializer(serializers.Serializer):
        language = LanguageField(required=False)

    @extend_schema_serializer(component_name="TemplateVersionCreateInput")
    class InputSerializer(VersionContentInputSerializer):
        activate = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        parameters=[FilterSerializer], responses=VersionOutputSerializer(many=True), summary="Version history"
    )
    def get(self, request, code: str):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        template = selectors.template_get(code=code)
        queryset = selectors.template_version_list(template=template, **filters.validated_data)
        return paginate(queryset, request, VersionOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={201: VersionOutputSerializer},
        summary="Add a version (active if 'activate' or if it is the language's first)",
    )
    def post(self, request, code: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        content = dict(serializer.validated_data)
        language = content.pop("language")
        activate = content.pop("activate")
        template = selectors.template_get(code=code)
        version = services.template_version_create(
            template=template, language=language, content=content, activate=activate
        )
        version.template = template
        message = f"Version {version.version} ({version.language}) created" + (
            " and active." if version.is_active else "."
        )
        return ok(VersionOutputSerializer(version).data, message=message, status=201)


class TemplateVersionActivateApi(APIView):
    permission_classes = [CanWriteTemplates]

    @extend_schema_serializer(component_name="TemplateVersionActivateInput")
    class InputSerializer(serializers.Serializer):
        language = LanguageField(required=False)

    @extend_schema_serializer(component_name="TemplateVersionActivateOutput")
    class OutputSerializer(VersionOutputSerializer):
        previous_active_version = serializers.IntegerField(allow_null=True)

        class Meta(VersionOutputSerializer.Meta):
            fields = [*VersionOutputSerializer.Meta.fields, "previous_active_version"]

    @extend_schema(
        request=InputSerializer,
        parameters=[OpenApiParameter("language", str, description="Defaults to the template's default language")],
        responses=OutputSerializer,
        summary="Activate a version (roll back by activating an earlier one)",
    )
    def post(self, request, code: str, version: int):
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        body = self.InputSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        template = selectors.template_get(code=code)
        language = (
            query.validated_data.get("language") or body.validated_data.get("language") or template.default_language
        )
        activated, previous = services.template_version_activate(template=template, language=language, version=version)
        activated.template = template
        activated.previous_active_version = previous
        return ok(self.OutputSerializer(activated).data, message=f"Version {version} ({language}) is active.")


class SubstituteOutputSerializer(serializers.Serializer):
    """Documents the answer: email fields or push fields, depending on the template's channel."""

    template_code = serializers.CharField()
    channel = serializers.ChoiceField(choices=Channel.choices)
    language = serializers.CharField(help_text="The language used, after fallback.")
    requested_language = serializers.CharField()
    version = serializers.IntegerField()
    subject = serializers.CharField(required=False, help_text="email")
    text_body = serializers.CharField(required=False, help_text="email")
    html_body = serializers.CharField(required=False, allow_null=True, help_text="email")
    title = serializers.CharField(required=False, help_text="push")
    body = serializers.CharField(required=False, help_text="push")
    image_url = serializers.CharField(required=False, allow_null=True, help_text="push")
    data = serializers.DictField(child=serializers.CharField(), required=False, help_text="push")


class TemplateSubstituteApi(APIView):
    permission_classes = [CanReadTemplates]

    @extend_schema_serializer(component_name="TemplateSubstituteInput")
    class InputSerializer(serializers.Serializer):
        template_code = serializers.CharField(max_length=services.MAX_CODE_LENGTH)
        language = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=35)
        variables = serializers.DictField(required=False, default=dict)
        version = serializers.IntegerField(required=False, allow_null=True, min_value=1)

    @extend_schema(
        request=InputSerializer,
        responses={200: SubstituteOutputSerializer, **error_responses(404, 422)},
        summary="Render a template with variables (errors: 404 template_not_found, 422 missing_variables)",
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return ok(
            services.template_substitute(
                code=serializer.validated_data["template_code"],
                language=serializer.validated_data.get("language"),
                variables=serializer.validated_data["variables"],
                version=serializer.validated_data.get("version"),
            )
        )


class ActiveVersionOutputSerializer(serializers.Serializer):
    """A version's raw content, for consumers that render it themselves (internal keys only)."""

    template_id = serializers.UUIDField()
    template_code = serializers.CharField()
    channel = serializers.ChoiceField(choices=Channel.choices)
    default_language = serializers.CharField()
    requested_language = serializers.CharField()
    language = serializers.CharField(help_text="The language used, after fallback.")
    version = serializers.IntegerField()
    variables = serializers.ListField(child=serializers.CharField())
    subject = serializers.CharField(required=False, allow_blank=True, help_text="email")
    text_body = serializers.CharField(required=False, allow_blank=True, help_text="email")
    html_body = serializers.CharField(required=False, allow_blank=True, help_text="email")
    title = serializers.CharField(required=False, allow_blank=True, help_text="push")
    body = serializers.CharField(required=False, allow_blank=True, help_text="push")
    image_url = serializers.CharField(required=False, allow_blank=True, help_text="push")
    data = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, help_text="push")


class TemplateActiveVersionApi(APIView):
    """The version the substitute endpoint would render, unrendered: the consumers cache it
    briefly and render locally (docs/template_service.md, "Local rendering")."""

    permission_classes = [IsInternal]

    @extend_schema_serializer(component_name="TemplateActiveVersionFilter")
    class FilterSerializer(serializers.Serializer):
        language = serializers.CharField(required=False, allow_blank=True, max_length=35)
        version = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(
        parameters=[FilterSerializer],
        responses=ActiveVersionOutputSerializer,
        summary="The active version (or ?version=) of a template in the best available language (internal)",
    )
    def get(self, request, code: str):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        selection = selectors.version_select(
            code=code, language=filters.validated_data.get("language"), version=filters.validated_data.get("version")
        )
        snapshot = selection.snapshot
        return ok(
            ActiveVersionOutputSerializer(
                {
                    "template_id": snapshot.template_id,
                    "template_code": selection.index.code,
                    "channel": snapshot.channel,
                    "default_language": selection.index.default_language,
                    "requested_language": selection.requested_language,
                    "language": snapshot.language,
                    "version": snapshot.version,
                    "variables": list(snapshot.compiled.variables),
                    **snapshot.content,
                }
            ).data
        )


class TemplateStatsApi(APIView):
    permission_classes = [IsInternal]

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Counts for the admin dashboard (internal)")
    def get(self, request):
        return ok(selectors.template_stats())


class CategoryOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["code", "name", "description", "required"]


class CategoryListApi(APIView):
    """The categories a template may have; users opt out of the ones not ``required``."""

    permission_classes = [CanReadTemplates]

    @extend_schema(responses=CategoryOutputSerializer(many=True), summary="List template categories")
    def get(self, request):
        return paginate(selectors.category_list(), request, CategoryOutputSerializer)
