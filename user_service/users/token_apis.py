"""HTTP APIs of user tokens: log in, refresh, and the public key other services verify with
(docs/user_service.md, "Authentication"). All public: the credentials are in the body."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from notification_common.client_ip import client_ip
from notification_common.envelope import ok
from notification_common.schema import BARE, error_responses
from users import selectors, services, tokens
from users.serializers import UserOutputSerializer


@extend_schema_serializer(component_name="AccessToken")
class AccessTokenOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()


class UserLoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="LoginInput")
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema_serializer(component_name="TokenPair")
    class OutputSerializer(AccessTokenOutputSerializer):
        refresh = serializers.CharField()
        user = UserOutputSerializer()

    @extend_schema(
        summary="Log in: access and refresh tokens",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(401, 429)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, pair = services.user_login(
            email=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
            client_ip=client_ip(request),
        )
        data = self.OutputSerializer({**pair, "user": selectors.user_get(user_id=user.id)}).data
        return ok(data, message="Logged in.")


class TokenRefreshApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="TokenRefreshInput")
    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    @extend_schema(
        summary="A new access token from a refresh token",
        request=InputSerializer,
        responses={200: AccessTokenOutputSerializer, **error_responses(401)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        access = services.token_refresh(refresh=serializer.validated_data["refresh"])
        return ok(AccessTokenOutputSerializer(access).data, message="Token refreshed.")


class JwksApi(APIView):
    """The standard JWKS document (RFC 7517), not the envelope, so JWKS clients read it as is."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Token public key as JWKS (RFC 7517, no envelope)",
        responses={200: OpenApiTypes.OBJECT},
        extensions={BARE: True},
    )
    def get(self, request):
        return Response(tokens.jwks(), headers={"Cache-Control": "public, max-age=300"})


class PublicKeyApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="PublicKey")
    class OutputSerializer(serializers.Serializer):
        algorithm = serializers.CharField()
        kid = serializers.CharField()
        public_key = serializers.CharField()

    @extend_schema(summary="Token public key as PEM", responses=OutputSerializer)
    def get(self, request):
        jwk = tokens.public_jwk()
        data = {"algorithm": jwk["alg"], "kid": jwk["kid"], "public_key": tokens.public_key_pem()}
        return ok(self.OutputSerializer(data).data, headers={"Cache-Control": "public, max-age=300"})
