"""Users and templates, through the user and template services (clients.py reads, audited
writes in services/proxies.py); their answers are passed on as those services shape them."""

import uuid

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.views import APIView

from notification_common.client_ip import client_ip
from notification_common.envelope import ok
from notification_common.exceptions import NotFound
from notification_common.pagination import PageField
from platform_admin import clients, services
from platform_admin.apis.common import ANY, ANY_LIST, body_validated, query_validated
from platform_admin.constants import Channel


def _user_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError as exc:
        raise NotFound("User not found.") from exc


# -- users ------------------------------------------------------------------------------------
class UserListApi(APIView):
    @extend_schema_serializer(component_name="UserListFilter")
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
        filters = query_validated(self.FilterSerializer, request)
        result = clients.users_fetch(**filters)
        return ok(result.data, meta=result.meta)


class UserDetailApi(APIView):
    @extend_schema_serializer(component_name="UserDetailFilter")
    class FilterSerializer(serializers.Serializer):
        notifications = serializers.IntegerField(required=False, min_value=0, max_value=100, default=10)

    @extend_schema(parameters=[FilterSerializer], responses=ANY, summary="A user with devices and recent notifications")
    def get(self, request, user_id):
        user_id = _user_id(user_id)
        limit = query_validated(self.FilterSerializer, request)["notifications"]
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


# -- templates --------------------------------------------------------------------------------
class TemplatesApi(APIView):
    """GET: list (filters passed on). POST: create, body as the template service takes it."""

    @extend_schema_serializer(component_name="TemplatesFilter")
    class FilterSerializer(serializers.Serializer):
        channel = serializers.ChoiceField(choices=[Channel.EMAIL, Channel.PUSH], required=False)
        language = serializers.CharField(required=False, max_length=16)
        search = serializers.CharField(required=False, max_length=100)
        page = PageField()
        limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)

    @extend_schema_serializer(component_name="TemplatesInput")
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
        result = clients.templates_fetch(params=query_validated(self.FilterSerializer, request))
        return ok(result.data, meta=result.meta)

    @extend_schema(
        request=ANY, responses={201: ANY}, summary="Create a template (body as the template service takes it)"
    )
    def post(self, request):
        body_validated(self.InputSerializer, request)  # the rest is the template service's to validate
        template = services.template_create(payload=dict(request.data), actor=request.user, ip=client_ip(request))
        return ok(template, message="Template created.", status=status.HTTP_201_CREATED)


class TemplateDetailApi(APIView):
    @extend_schema(responses=ANY, summary="A template and its versions")
    def get(self, request, code):
        template = clients.template_fetch(code=code, params=dict(request.query_params.items()))
        versions = clients.template_versions_fetch(code=code, params={"limit": 100}).data
        return ok({"template": template, "versions": versions})


class TemplateVersionCreateApi(APIView):
    @extend_schema_serializer(component_name="TemplateVersionCreateInput")
    class InputSerializer(serializers.Serializer):
        language = serializers.CharField(max_length=16)

    @extend_schema(request=ANY, responses={201: ANY}, summary="Add a template version")
    def post(self, request, code):
        body_validated(self.InputSerializer, request)
        version = services.template_version_create(
            code=code, payload=dict(request.data), actor=request.user, ip=client_ip(request)
        )
        return ok(version, message="Template version created.", status=status.HTTP_201_CREATED)


class TemplateActivateApi(APIView):
    @extend_schema_serializer(component_name="TemplateActivateInput")
    class InputSerializer(serializers.Serializer):
        version = serializers.IntegerField(min_value=1)
        language = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses=ANY, summary="Activate (or roll back to) a version")
    def post(self, request, code):
        data = body_validated(self.InputSerializer, request)
        result = services.template_version_activate(
            code=code,
            version=data["version"],
            language=data["language"] or None,
            actor=request.user,
            ip=client_ip(request),
        )
        return ok(result, message="Template version activated.")
