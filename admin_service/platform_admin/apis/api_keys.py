"""API keys: list, create, show, revoke, rotate, and the key check other services call."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.views import APIView

from notification_common.api_keys import Scope
from notification_common.authentication import ApiKeyAuthentication, IsInternal
from notification_common.client_ip import client_ip
from notification_common.envelope import ok
from notification_common.exceptions import ApplicationError
from notification_common.pagination import paginate
from notification_common.schema import error_responses
from notification_common.validation import SingleLineTextValidator
from platform_admin import selectors, services
from platform_admin.apis.common import body_validated, query_validated
from platform_admin.constants import AdminErrorCode


class ApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    status = serializers.SerializerMethodField()
    is_bootstrap = serializers.BooleanField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.SerializerMethodField()

    def get_status(self, obj) -> str:
        if obj.revoked_at:
            return "revoked"
        if obj.expires_at and obj.expires_at <= timezone.now():
            return "expired"
        return "active"

    def get_created_by(self, obj) -> str | None:
        return obj.created_by.get_username() if obj.created_by else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_used_at(self, obj) -> str | None:
        pending = self.context.get("pending_usage")
        if pending is None:
            pending = self.context["pending_usage"] = selectors.api_key_pending_usage()
        when = selectors.api_key_last_used(obj, pending)
        return serializers.DateTimeField().to_representation(when) if when else None


class CreatedApiKeyOutputSerializer(ApiKeyOutputSerializer):
    key = serializers.CharField(help_text="The key itself: shown in this answer only.")


def _created_key(api_key, raw: str) -> dict:
    return {**ApiKeyOutputSerializer(api_key).data, "key": raw}


class ApiKeysApi(APIView):
    """GET: list (never the key itself). POST: create; the key is in this answer only."""

    @extend_schema_serializer(component_name="ApiKeysFilter")
    class FilterSerializer(serializers.Serializer):
        revoked = serializers.BooleanField(required=False, allow_null=True, default=None)
        scope = serializers.ChoiceField(choices=Scope.ALL, required=False)
        search = serializers.CharField(required=False, max_length=100)

    @extend_schema_serializer(component_name="ApiKeysInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, validators=[SingleLineTextValidator()])
        scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.ALL), allow_empty=False)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

        def validate_scopes(self, value):
            if len(set(value)) != len(value):
                raise serializers.ValidationError("Scopes must not repeat.")
            return value

        def validate_expires_at(self, value):
            if value is not None and value <= timezone.now():
                raise serializers.ValidationError("Expiry must be in the future.")
            return value

    @extend_schema(
        parameters=[FilterSerializer],
        responses=ApiKeyOutputSerializer(many=True),
        summary="List API keys (never the keys themselves)",
    )
    def get(self, request):
        filters = query_validated(self.FilterSerializer, request)
        return paginate(selectors.api_key_list(filters=filters), request, ApiKeyOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={201: CreatedApiKeyOutputSerializer},
        summary="Create an API key; the key is in this answer only",
    )
    def post(self, request):
        data = body_validated(self.InputSerializer, request)
        api_key, raw = services.api_key_create(
            name=data["name"],
            scopes=data["scopes"],
            expires_at=data["expires_at"],
            created_by=request.user,
            ip=client_ip(request),
        )
        return ok(
            _created_key(api_key, raw),
            message="API key created. Store the key now: it is not shown again.",
            status=status.HTTP_201_CREATED,
        )


class ApiKeyDetailApi(APIView):
    @extend_schema(responses=ApiKeyOutputSerializer, summary="Show an API key")
    def get(self, request, api_key_id):
        return ok(ApiKeyOutputSerializer(selectors.api_key_get(api_key_id=api_key_id)).data)


class ApiKeyRevokeApi(APIView):
    @extend_schema(
        request=None, responses=ApiKeyOutputSerializer, summary="Revoke an API key (other services drop it at once)"
    )
    def post(self, request, api_key_id):
        api_key = selectors.api_key_get(api_key_id=api_key_id)
        api_key = services.api_key_revoke(api_key=api_key, actor=request.user, ip=client_ip(request))
        return ok(ApiKeyOutputSerializer(api_key).data, message="API key revoked.")


class ApiKeyRotateApi(APIView):
    @extend_schema(
        request=None,
        responses={201: CreatedApiKeyOutputSerializer, **error_responses(409)},
        summary="Replace a key by a new one with the same scopes",
    )
    def post(self, request, api_key_id):
        api_key = selectors.api_key_get(api_key_id=api_key_id)
        if api_key.revoked_at is not None:
            raise ApplicationError(
                AdminErrorCode.API_KEY_REVOKED, "A revoked key cannot be rotated.", status.HTTP_409_CONFLICT
            )
        new_key, raw = services.api_key_rotate(api_key=api_key, actor=request.user, ip=client_ip(request))
        return ok(
            _created_key(new_key, raw),
            message="API key rotated: the old key is revoked. Store the new key now: it is not shown again.",
            status=status.HTTP_201_CREATED,
        )


class ApiKeyVerifyApi(APIView):
    """For the other services (notification_common.api_keys), with their own internal key."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsInternal]

    @extend_schema_serializer(component_name="ApiKeyVerifyInput")
    class InputSerializer(serializers.Serializer):
        key = serializers.CharField(max_length=512, trim_whitespace=True)

    @extend_schema_serializer(component_name="ApiKeyVerifyOutput")
    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        name = serializers.CharField()
        scopes = serializers.ListField(child=serializers.CharField())
        expires_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(404)},
        summary="Check a key (other services, internal key)",
    )
    def post(self, request):
        data = body_validated(self.InputSerializer, request)
        api_key, refusal = services.api_key_lookup(data["key"])
        if refusal is not None:
            # The reason lets callers remember a revocation for long (through our outages).
            raise ApplicationError(
                AdminErrorCode.INVALID_API_KEY,
                "Unknown, revoked or expired API key.",
                status.HTTP_404_NOT_FOUND,
                data={"reason": refusal},
            )
        return ok(self.OutputSerializer(api_key).data)
