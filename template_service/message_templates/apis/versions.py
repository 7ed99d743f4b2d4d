"""Versions of a template: the history, a new (immutable) version, activation and rollback."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from message_templates import selectors, services
from message_templates.apis.common import (
    CanWriteTemplates,
    LanguageField,
    ReadsForTemplateReadersWritesForTemplateWriters,
)
from message_templates.models import Channel, TemplateVersion
from notification_common.envelope import ok
from notification_common.pagination import paginate
from notification_common.validation import SingleLineTextValidator


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
