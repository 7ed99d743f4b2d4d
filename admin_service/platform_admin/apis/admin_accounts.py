"""Admin login, token refresh and the admin behind a token."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from notification_common.client_ip import client_ip
from notification_common.envelope import ok
from notification_common.schema import error_responses
from platform_admin import services
from platform_admin.apis.common import ANY, body_validated


class AdminLoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="AdminLoginInput")
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
        data = body_validated(self.InputSerializer, request)
        tokens = services.admin_login(
            identifier=data.get("username") or data["email"], password=data["password"], ip=client_ip(request)
        )
        return ok(tokens, message="Logged in.")


class AdminTokenRefreshApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="AdminTokenRefreshInput")
    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    @extend_schema(
        request=InputSerializer, responses={200: ANY, **error_responses(401)}, summary="A new admin access token"
    )
    def post(self, request):
        data = body_validated(self.InputSerializer, request)
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
