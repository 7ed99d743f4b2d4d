"""A template's version for a (code, language[, version]) after the language fallback:
rendered with variables (substitute), or raw for the consumers that render it themselves."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from message_templates import selectors, services
from message_templates.apis.common import CanReadTemplates
from message_templates.models import Channel
from notification_common.authentication import IsInternal
from notification_common.envelope import ok
from notification_common.schema import error_responses


class TemplateSubstituteApi(APIView):
    permission_classes = [CanReadTemplates]

    @extend_schema_serializer(component_name="TemplateSubstituteInput")
    class InputSerializer(serializers.Serializer):
        template_code = serializers.CharField(max_length=services.MAX_CODE_LENGTH)
        language = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=35)
        variables = serializers.DictField(required=False, default=dict)
        version = serializers.IntegerField(required=False, allow_null=True, min_value=1)

    @extend_schema_serializer(component_name="SubstituteOutput")
    class OutputSerializer(serializers.Serializer):
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

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(404, 422)},
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


class TemplateActiveVersionApi(APIView):
    """The version the substitute endpoint would render, unrendered: the consumers cache it
    briefly and render locally (docs/template_service.md, "Local rendering")."""

    permission_classes = [IsInternal]

    @extend_schema_serializer(component_name="TemplateActiveVersionFilter")
    class FilterSerializer(serializers.Serializer):
        language = serializers.CharField(required=False, allow_blank=True, max_length=35)
        version = serializers.IntegerField(required=False, min_value=1)

    @extend_schema_serializer(component_name="ActiveVersionOutput")
    class OutputSerializer(serializers.Serializer):
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

    @extend_schema(
        parameters=[FilterSerializer],
        responses=OutputSerializer,
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
            self.OutputSerializer(
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
