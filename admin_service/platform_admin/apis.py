"""The admin API (/api/v1/admin/...): thin views over services, selectors and clients.

Every view needs an admin token (settings: AdminJWTAuthentication + IsAdminUser), except
login/refresh (no credential yet) and the key check (another service's internal key).
"""

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from notification_common.api_keys import Scope
from notification_common.authentication import ApiKeyAuthentication, IsInternal
from notification_common.client_ip import client_ip
from notification_common.envelope import ok
from notification_common.exceptions import ApplicationError, NotFound
from notification_common.pagination import PageField, paginate
from notification_common.schema import error_responses
from notification_common.validation import SingleLineTextValidator
from platform_admin import clients, selectors, services
from platform_admin.constants import AdminErrorCode, AuditAction, Channel
from platform_admin.dashboard import dashboard_collect

ANY = OpenApiTypes.OBJECT  # answers passed on from another service, shaped by its contract
ANY_LIST = {"type": "array", "items": {"type": "object"}}  # a page of them (meta: the upstream's)


def _query(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _body(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _user_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError as exc:
        raise NotFound("User not found.") from exc


# -- admin accounts -----------------------------------------------------------------------
class AdminLoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(required=False, max_length=254, help_text="username or email")
        email = serializers.CharField(required=False, max_length=254)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

        def validate(self, attrs):
            if not (attrs.get("username") or attrs.get("email")):
                raise serializers.ValidationError({"username": ["Give a username or an email."]})
            return attrs

    @extend_schema(
        request=InputSerializer,
        responses={200: ANY, **error_responses(401, 429)},
        summary="Log in: admin access and refresh tokens",
    )
    def post(self, request):
        data = _body(self.InputSerializer, request)
        tokens = services.admin_login(
            identifier=data.get("username") or data["email"], password=data["password"], ip=client_ip(request)
        )
        return ok(tokens, message="Logged in.")


class AdminTokenRefreshApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    @extend_schema(
        request=InputSerializer, responses={200: ANY, **error_responses(401)}, summary="A new admin access token"
    )
    def post(self, request):
        data = _body(self.InputSerializer, request)
        return ok(services.admin_token_refresh(refresh=data["refresh"]))


class AdminMeApi(APIView):
    @extend_schema(responses=ANY, summary="The admin behind the token")
    def get(self, request):
        user = request.user
        return ok(
            {
                "id": user.pk,
                "username": user.get_username(),
                "email": user.email,
                "is_superuser": user.is_superuser,
                "last_login": user.last_login,
            }
        )


# -- API keys -----------------------------------------------------------------------------
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
        from django.utils import timezone

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

    class FilterSerializer(serializers.Serializer):
        revoked = serializers.BooleanField(required=False, allow_null=True, default=None)
        scope = serializers.ChoiceField(choices=Scope.ALL, required=False)
        search = serializers.CharField(required=False, max_length=100)

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, validators=[SingleLineTextValidator()])
        scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.ALL), allow_empty=False)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

        def validate_scopes(self, value):
            if len(set(value)) != len(value):
                raise serializers.ValidationError("Scopes must not repeat.")
            return value

        def validate_expires_at(self, value):
            from django.utils import timezone

            if value is not None and value <= timezone.now():
                raise serializers.ValidationError("Expiry must be in the future.")
            return value

    @extend_schema(
        parameters=[FilterSerializer],
        responses=ApiKeyOutputSerializer(many=True),
        summary="List API keys (never the keys themselves)",
    )
    def get(self, request):
        filters = _query(self.FilterSerializer, request)
        return paginate(selectors.api_key_list(filters=filters), request, ApiKeyOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={201: CreatedApiKeyOutputSerializer},
        summary="Create an API key; the key is in this answer only",
    )
    def post(self, request):
        data = _body(self.InputSerializer, request)
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

    class InputSerializer(serializers.Serializer):
        key = serializers.CharField(max_length=512, trim_whitespace=True)

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
        data = _body(self.InputSerializer, request)
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


# -- dashboard ----------------------------------------------------------------------------
class DashboardApi(APIView):
    @extend_schema(responses=ANY, summary="Health, queues, delivery figures of the whole platform")
    def get(self, request):
        return ok(dashboard_collect())


# -- users (through the user service) -------------------------------------------------------
class UserListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        search = serializers.CharField(required=False, max_length=200, default="")
        page = PageField()
        limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: ANY_LIST},
        summary="Users (through the user service)",
        operation_id="admin_users_list",
    )
    def get(self, request):
        filters = _query(self.FilterSerializer, request)
        result = clients.users_fetch(**filters)
        return ok(result.data, meta=result.meta)


class UserDetailApi(APIView):
    class FilterSerializer(serializers.Serializer):
        notifications = serializers.IntegerField(required=False, min_value=0, max_value=100, default=10)

    @extend_schema(parameters=[FilterSerializer], responses=ANY, summary="A user with devices and recent notifications")
    def get(self, request, user_id):
        user_id = _user_id(user_id)
        limit = _query(self.FilterSerializer, request)["notifications"]
        user = clients.user_fetch(user_id=user_id)
        recent = clients.user_notifications_fetch(user_id=user_id, limit=limit) if limit else []
        return ok({**user, "devices": user.get("devices", []), "recent_notifications": recent})


class UserDeactivateApi(APIView):
    @extend_schema(request=None, responses=ANY, summary="Deactivate a user")
    def post(self, request, user_id):
        user = services.user_deactivate(user_id=_user_id(user_id), actor=request.user, ip=client_ip(request))
        return ok(user, message="User deactivated.")


class UserReactivateApi(APIView):
    @extend_schema(request=None, responses=ANY, summary="Reactivate a user")
    def post(self, request, user_id):
        user = services.user_reactivate(user_id=_user_id(user_id), actor=request.user, ip=client_ip(request))
        return ok(user, message="User reactivated.")


# -- templates (through the template service) -------------------------------------------------
class TemplatesApi(APIView):
    """GET: list (filters passed on). POST: create, body as the template service takes it."""

    class FilterSerializer(serializers.Serializer):
        channel = serializers.ChoiceField(choices=[Channel.EMAIL, Channel.PUSH], required=False)
        language = serializers.CharField(required=False, max_length=16)
        search = serializers.CharField(required=False, max_length=100)
        page = PageField()
        limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)

    class InputSerializer(serializers.Serializer):
        code = serializers.SlugField(max_length=100)
        channel = serializers.ChoiceField(choices=[Channel.EMAIL, Channel.PUSH])

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: ANY_LIST},
        summary="Templates (through the template service)",
        operation_id="admin_templates_list",
    )
    def get(self, request):
        result = clients.templates_fetch(params=_query(self.FilterSerializer, request))
        return ok(result.data, meta=result.meta)

    @extend_schema(
        request=ANY, responses={201: ANY}, summary="Create a template (body as the template service takes it)"
    )
    def post(self, request):
        _body(self.InputSerializer, request)  # the rest is the template service's to validate
        template = services.template_create(payload=dict(request.data), actor=request.user, ip=client_ip(request))
        return ok(template, message="Template created.", status=status.HTTP_201_CREATED)


class TemplateDetailApi(APIView):
    @extend_schema(responses=ANY, summary="A template and its versions")
    def get(self, request, code):
        template = clients.template_fetch(code=code, params=dict(request.query_params.items()))
        versions = clients.template_versions_fetch(code=code, params={"limit": 100}).data
        return ok({"template": template, "versions": versions})


class TemplateVersionCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        language = serializers.CharField(max_length=16)

    @extend_schema(request=ANY, responses={201: ANY}, summary="Add a template version")
    def post(self, request, code):
        _body(self.InputSerializer, request)
        version = services.template_version_create(
            code=code, payload=dict(request.data), actor=request.user, ip=client_ip(request)
        )
        return ok(version, message="Template version created.", status=status.HTTP_201_CREATED)


class TemplateActivateApi(APIView):
    class InputSerializer(serializers.Serializer):
        version = serializers.IntegerField(min_value=1)
        language = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses=ANY, summary="Activate (or roll back to) a version")
    def post(self, request, code):
        data = _body(self.InputSerializer, request)
        result = services.template_version_activate(
            code=code,
            version=data["version"],
            language=data["language"] or None,
            actor=request.user,
            ip=client_ip(request),
        )
        return ok(result, message="Template version activated.")


# -- dead letters -----------------------------------------------------------------------------
class DeadLetterOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    message_id = serializers.CharField()
    notification_id = serializers.CharField()
    channel = serializers.CharField()
    original_queue = serializers.CharField()
    reason = serializers.CharField()
    failure_kind = serializers.CharField()
    attempts = serializers.IntegerField()
    history = serializers.JSONField()
    headers = serializers.JSONField()
    body = serializers.CharField()
    failed_at = serializers.DateTimeField(allow_null=True)
    received_at = serializers.DateTimeField()
    replayed_at = serializers.DateTimeField(allow_null=True)
    replay_count = serializers.IntegerField()
    # Could not be stored as it came: a reduced form, store_error says why (docs/admin_service.md).
    stored_reduced = serializers.BooleanField()
    store_error = serializers.CharField()
    body_encoding = serializers.CharField(help_text='"" for text, "base64" for the raw bytes')


class DeadLetterListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, max_length=200)
        channel = serializers.ChoiceField(choices=[c for c, _ in Channel.CHOICES], required=False)
        failure_kind = serializers.CharField(required=False, max_length=32)
        notification_id = serializers.CharField(required=False, max_length=64)
        replayed = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(
        parameters=[FilterSerializer], responses=DeadLetterOutputSerializer(many=True), summary="Dead letters"
    )
    def get(self, request):
        filters = _query(self.FilterSerializer, request)
        return paginate(selectors.dead_letter_list(filters=filters), request, DeadLetterOutputSerializer)


class DeadLetterDetailApi(APIView):
    @extend_schema(responses=DeadLetterOutputSerializer, summary="A dead letter")
    def get(self, request, dead_letter_id):
        return ok(DeadLetterOutputSerializer(selectors.dead_letter_get(dead_letter_id=dead_letter_id)).data)


class DeadLetterReplayApi(APIView):
    @extend_schema(
        request=None,
        responses={200: DeadLetterOutputSerializer, **error_responses(409, 422)},
        summary="Replay a dead letter (once)",
    )
    def post(self, request, dead_letter_id):
        dead_letter = services.dead_letter_replay(
            dead_letter_id=selectors.dead_letter_get(dead_letter_id=dead_letter_id).pk,
            actor=request.user,
            ip=client_ip(request),
        )
        return ok(DeadLetterOutputSerializer(dead_letter).data, message="Dead letter replayed.")


class DeadLetterBulkReplayApi(APIView):
    class InputSerializer(serializers.Serializer):
        ids = serializers.ListField(child=serializers.UUIDField(), allow_empty=False, max_length=500)

    @extend_schema(
        request=InputSerializer,
        responses=ANY,
        summary="Replay many dead letters",
        operation_id="admin_dead_letters_replay_many",
    )
    def post(self, request):
        data = _body(self.InputSerializer, request)
        outcome = services.dead_letters_replay(ids=data["ids"], actor=request.user, ip=client_ip(request))
        return ok(outcome, message=f"{len(outcome['replayed'])} dead letter(s) replayed.")


# -- audit --------------------------------------------------------------------------------------
class AuditOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    actor = serializers.CharField()
    action = serializers.CharField()
    target = serializers.CharField()
    details = serializers.JSONField()
    ip = serializers.CharField()
    created_at = serializers.DateTimeField()


class AuditListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=[a for a, _ in AuditAction.CHOICES], required=False)
        actor = serializers.CharField(required=False, max_length=150)
        target = serializers.CharField(required=False, max_length=255)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

    @extend_schema(parameters=[FilterSerializer], responses=AuditOutputSerializer(many=True), summary="Audit log")
    def get(self, request):
        filters = _query(self.FilterSerializer, request)
        return paginate(selectors.audit_list(filters=filters), request, AuditOutputSerializer)


def _name_nested_serializers() -> None:
    """Views share the names InputSerializer/FilterSerializer/OutputSerializer; OpenAPI
    components need unique ones (ApiKeysInput, UserListFilter, ...)."""
    for view in list(globals().values()):
        if isinstance(view, type) and issubclass(view, APIView):
            for kind in ("InputSerializer", "FilterSerializer", "OutputSerializer"):
                nested = view.__dict__.get(kind)
                if nested is not None:
                    name = view.__name__.removesuffix("Api") + kind.removesuffix("Serializer")
                    extend_schema_serializer(component_name=name)(nested)


_name_nested_serializers()
