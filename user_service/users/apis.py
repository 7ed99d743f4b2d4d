"""HTTP APIs of the user service's accounts: registration, the user list, the caller's own
account, one user, (de)activation and the dashboard counts. Thin: validate with a nested
InputSerializer, call a service or selector, answer with the shared UserOutputSerializer.

The other topics have their modules: token_apis (login, tokens, keys), device_apis,
status_apis (delivery reports and the notification log), managed_apis, unsubscribe_apis.
Paths and shapes follow docs/architecture.md ("User service"); docs/user_service.md lists
who may call what.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from notification_common.authentication import IsInternal, IsPlatformUser, caller_user_id
from notification_common.client_ip import client_ip
from notification_common.envelope import ok
from notification_common.pagination import paginate
from notification_common.schema import error_responses
from users import selectors, services
from users.constants import Platform
from users.models import User
from users.permissions import IsInternalOrSelf
from users.serializers import PreferencesSerializer, UserOutputSerializer


def _user_data(user: User) -> dict:
    return UserOutputSerializer(user).data


class PerMethodAccessMixin:
    """One path, several operations (GET list / POST create): access is per method."""

    public_methods: tuple[str, ...] = ()
    permissions_by_method: dict = {}

    def _method(self) -> str:
        # The schema generator asks before a request exists.
        return getattr(getattr(self, "request", None), "method", "") or ""

    def get_authenticators(self):
        if self._method() in self.public_methods:
            return []
        return super().get_authenticators()

    def get_permissions(self):
        if self._method() in self.public_methods:
            return [AllowAny()]
        classes = self.permissions_by_method.get(self._method(), self.permission_classes)
        return [permission() for permission in classes]


class UsersApi(PerMethodAccessMixin, APIView):
    """POST registers a user (public); GET lists users (internal)."""

    public_methods = ("POST",)
    permissions_by_method = {"GET": [IsInternal]}

    @extend_schema_serializer(component_name="UserCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=150)
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=128, trim_whitespace=False)
        push_token = serializers.CharField(max_length=512, required=False, allow_blank=True, allow_null=True)
        platform = serializers.ChoiceField(choices=Platform.CHOICES, required=False)
        preferences = PreferencesSerializer(required=False)

    @extend_schema_serializer(component_name="UserListFilter")
    class FilterSerializer(serializers.Serializer):
        search = serializers.CharField(max_length=100, required=False, allow_blank=True)

    @extend_schema(
        summary="Register a user",
        request=InputSerializer,
        responses={201: UserOutputSerializer, **error_responses(409, 429)},
    )
    def post(self, request):
        # Counted before validation: open registration must not become a way to send our
        # emails to strangers' addresses, nor to probe which addresses are taken, at speed.
        services.user_registration_rate_limit_enforce(client_ip=client_ip(request))
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = services.user_create(
            name=data["name"],
            email=data["email"],
            password=data["password"],
            preferences=data.get("preferences"),
            push_token=data.get("push_token") or None,
            platform=data.get("platform"),
        )
        return ok(
            _user_data(selectors.user_get(user_id=user.id)), message="User registered.", status=http.HTTP_201_CREATED
        )

    @extend_schema(
        summary="List users (internal)",
        parameters=[FilterSerializer],
        responses=UserOutputSerializer(many=True),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        users = selectors.user_list(filters=filters.validated_data)
        return paginate(users, request, UserOutputSerializer)


# --- the caller's own account ---------------------------------------------------------


class MeApi(APIView):
    permission_classes = [IsPlatformUser]

    @extend_schema_serializer(component_name="MeUpdateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=150, required=False)
        preferences = PreferencesSerializer(required=False)

    @extend_schema(summary="The caller's own account", responses=UserOutputSerializer)
    def get(self, request):
        user = selectors.user_get_for_token(user_id=caller_user_id(request.user))
        return ok(_user_data(selectors.user_get(user_id=user.id)))

    @extend_schema(summary="Change name and preferences", request=InputSerializer, responses=UserOutputSerializer)
    def patch(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = services.user_update(
            user=selectors.user_get_for_token(user_id=caller_user_id(request.user)),
            name=data.get("name"),
            preferences=data.get("preferences"),
        )
        return ok(_user_data(selectors.user_get(user_id=user.id)), message="Profile updated.")


class MePasswordChangeApi(APIView):
    permission_classes = [IsPlatformUser]

    @extend_schema_serializer(component_name="PasswordChangeInput")
    class InputSerializer(serializers.Serializer):
        current_password = serializers.CharField(max_length=128, trim_whitespace=False)
        new_password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(summary="Change the password", request=InputSerializer, responses={200: None})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_password_change(
            user=selectors.user_get_for_token(user_id=caller_user_id(request.user)),
            current_password=serializer.validated_data["current_password"],
            new_password=serializer.validated_data["new_password"],
        )
        return ok(None, message="Password changed; existing refresh tokens no longer work.")


# --- one user (the user themself or internal callers) ---------------------------------


class UserDetailApi(APIView):
    permission_classes = [IsInternalOrSelf]

    @extend_schema(summary="One user with preferences and active devices", responses=UserOutputSerializer)
    def get(self, request, user_id):
        return ok(selectors.user_profile_get(user_id=user_id))


# --- internal operations ---------------------------------------------------------------


class UserDeactivateApi(APIView):
    permission_classes = [IsInternal]

    @extend_schema(summary="Deactivate a user (internal)", request=None, responses=UserOutputSerializer)
    def post(self, request, user_id):
        return ok(_user_data(services.user_deactivate(user_id=user_id)), message="User deactivated.")


class UserReactivateApi(APIView):
    permission_classes = [IsInternal]

    @extend_schema(summary="Reactivate a user (internal)", request=None, responses=UserOutputSerializer)
    def post(self, request, user_id):
        return ok(_user_data(services.user_reactivate(user_id=user_id)), message="User reactivated.")


class UserStatsApi(APIView):
    permission_classes = [IsInternal]

    @extend_schema(summary="Counts for the admin dashboard (internal)", responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return ok(selectors.user_stats())
