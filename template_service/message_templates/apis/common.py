"""What the template API modules share: who may read and write templates, the template code
path parameter, and the language field (normalised, ``pt-br`` -> ``pt-BR``)."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, BasePermission

from message_templates import services
from notification_common.api_keys import Scope
from notification_common.authentication import HasScope
from notification_common.languages import InvalidLanguage, normalize_language

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
