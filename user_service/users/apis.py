"""HTTP APIs of the user service: validate, call a service or selector, serialize.

Paths and shapes follow docs/architecture.md ("User service"); docs/user_service.md lists
who may call what.
"""

import uuid

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from notification_common import ratelimit
from notification_common.authentication import IsInternal, IsPlatformUser, caller_user_id
from notification_common.client_ip import client_ip
from notification_common.envelope import ok
from notification_common.exceptions import ApplicationError, ErrorCode
from notification_common.pagination import paginate
from notification_common.schema import BARE, error_responses
from users import delivery_status, selectors, services, tokens
from users.constants import Channel, DeliveryStatus, Platform, StatusOutcome, UserErrorCode
from users.models import User
from users.permissions import IsInternalOrSelf
from users.serializers import (
    DeviceOutputSerializer,
    NotificationLogOutputSerializer,
    NotificationStatusOutputSerializer,
    PreferencesSerializer,
    UserOutputSerializer,
)


def _access_token_fields() -> dict:
    # New field instances for each schema: a DRF field binds to the first serializer it is put in,
    # and shared ones vanished from TokenPair (the login answer looked like it had no access token).
    return {
        "access": serializers.CharField(),
        "token_type": serializers.CharField(),
        "expires_in": serializers.IntegerField(),
    }


ACCESS_TOKEN_SCHEMA = inline_serializer("AccessToken", _access_token_fields())
TOKEN_PAIR_SCHEMA = inline_serializer(
    "TokenPair", {**_access_token_fields(), "refresh": serializers.CharField(), "user": UserOutputSerializer()}
)
PUBLIC_KEY_SCHEMA = inline_serializer(
    "PublicKey",
    {"algorithm": serializers.CharField(), "kid": serializers.CharField(), "public_key": serializers.CharField()},
)
DEACTIVATED_SCHEMA = inline_serializer("DevicesDeactivated", {"deactivated": serializers.IntegerField()})


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


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


def _me(request) -> User:
    try:
        user_id = uuid.UUID(caller_user_id(request.user))
    except (TypeError, ValueError):
        user_id = None
    user = User.objects.select_related("preferences").filter(id=user_id).first() if user_id else None
    if user is None:
        raise ApplicationError(ErrorCode.AUTHENTICATION_FAILED, "The account behind this token no longer exists.", 401)
    if not user.is_active:
        raise ApplicationError(UserErrorCode.ACCOUNT_INACTIVE, "This account is deactivated.", 403)
    return user


# --- registration, login, tokens ------------------------------------------------------


class UserCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    push_token = serializers.CharField(max_length=512, required=False, allow_blank=True, allow_null=True)
    platform = serializers.ChoiceField(choices=Platform.CHOICES, required=False)
    preferences = PreferencesSerializer(required=False)


class UserListFilterSerializer(serializers.Serializer):
    search = serializers.CharField(max_length=100, required=False, allow_blank=True)


class UsersApi(PerMethodAccessMixin, APIView):
    """POST registers a user (public); GET lists users (internal)."""

    public_methods = ("POST",)
    permissions_by_method = {"GET": [IsInternal]}

    @extend_schema(
        summary="Register a user",
        request=UserCreateInputSerializer,
        responses={201: UserOutputSerializer, **error_responses(409, 429)},
    )
    def post(self, request):
        # Counted before validation: open registration must not become a way to send our
        # emails to strangers' addresses, nor to probe which addresses are taken, at speed.
        limit, window = settings.USER_REGISTRATION_RATE_LIMIT
        address = client_ip(request)
        if limit and address:
            ratelimit.enforce(
                f"user-register:ip:{address}",
                limit=limit,
                window_seconds=window,
                message="Too many registrations from this address; try again later.",
            )
        data = _validated(UserCreateInputSerializer, request.data)
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
        parameters=[UserListFilterSerializer],
        responses=UserOutputSerializer(many=True),
    )
    def get(self, request):
        filters = _validated(UserListFilterSerializer, request.query_params)
        return paginate(selectors.user_list(search=filters.get("search", "")), request, UserOutputSerializer)


class UserLoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class LoginInputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(
        summary="Log in: access and refresh tokens",
        request=LoginInputSerializer,
        responses={200: TOKEN_PAIR_SCHEMA, **error_responses(401, 429)},
    )
    def post(self, request):
        data = _validated(self.LoginInputSerializer, request.data)
        user, pair = services.user_login(email=data["email"], password=data["password"], client_ip=client_ip(request))
        return ok({**pair, "user": _user_data(selectors.user_get(user_id=user.id))}, message="Logged in.")


class TokenRefreshApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class TokenRefreshInputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    @extend_schema(
        summary="A new access token from a refresh token",
        request=TokenRefreshInputSerializer,
        responses={200: ACCESS_TOKEN_SCHEMA, **error_responses(401)},
    )
    def post(self, request):
        data = _validated(self.TokenRefreshInputSerializer, request.data)
        return ok(services.token_refresh(refresh=data["refresh"]), message="Token refreshed.")


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

    @extend_schema(summary="Token public key as PEM", responses=PUBLIC_KEY_SCHEMA)
    def get(self, request):
        jwk = tokens.public_jwk()
        data = {"algorithm": jwk["alg"], "kid": jwk["kid"], "public_key": tokens.public_key_pem()}
        return ok(data, headers={"Cache-Control": "public, max-age=300"})


# --- the caller's own account ---------------------------------------------------------


class MeUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150, required=False)
    preferences = PreferencesSerializer(required=False)


class MeApi(APIView):
    permission_classes = [IsPlatformUser]

    @extend_schema(summary="The caller's own account", responses=UserOutputSerializer)
    def get(self, request):
        user = _me(request)
        return ok(_user_data(selectors.user_get(user_id=user.id)))

    @extend_schema(
        summary="Change name and preferences", request=MeUpdateInputSerializer, responses=UserOutputSerializer
    )
    def patch(self, request):
        data = _validated(MeUpdateInputSerializer, request.data)
        user = services.user_update(user=_me(request), name=data.get("name"), preferences=data.get("preferences"))
        return ok(_user_data(selectors.user_get(user_id=user.id)), message="Profile updated.")


class MePasswordChangeApi(APIView):
    permission_classes = [IsPlatformUser]

    class PasswordChangeInputSerializer(serializers.Serializer):
        current_password = serializers.CharField(max_length=128, trim_whitespace=False)
        new_password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(summary="Change the password", request=PasswordChangeInputSerializer, responses={200: None})
    def post(self, request):
        data = _validated(self.PasswordChangeInputSerializer, request.data)
        services.user_password_change(
            user=_me(request), current_password=data["current_password"], new_password=data["new_password"]
        )
        return ok(None, message="Password changed; existing refresh tokens no longer work.")


# --- one user (the user themself or internal callers) ---------------------------------


class UserDetailApi(APIView):
    permission_classes = [IsInternalOrSelf]

    @extend_schema(summary="One user with preferences and active devices", responses=UserOutputSerializer)
    def get(self, request, user_id):
        return ok(_user_data(selectors.user_get(user_id=user_id)))


class DeviceAddInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)
    platform = serializers.ChoiceField(choices=Platform.CHOICES, required=False)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)


class UserDevicesApi(APIView):
    """GET lists the user's devices (active and not); POST adds one (the same token again: 200)."""

    permission_classes = [IsInternalOrSelf]

    @extend_schema(summary="The user's devices", responses=DeviceOutputSerializer(many=True))
    def get(self, request, user_id):
        selectors.user_get(user_id=user_id)
        return paginate(selectors.device_list(user_id=user_id), request, DeviceOutputSerializer)

    @extend_schema(
        summary="Add a device (the same token again refreshes it)",
        request=DeviceAddInputSerializer,
        responses={201: DeviceOutputSerializer, 200: DeviceOutputSerializer},
    )
    def post(self, request, user_id):
        data = _validated(DeviceAddInputSerializer, request.data)
        user = selectors.user_get(user_id=user_id)
        device, created = services.device_add(
            user=user, token=data["token"], platform=data.get("platform"), name=data.get("name", "")
        )
        return ok(
            DeviceOutputSerializer(device).data,
            message="Device added." if created else "Device already registered; refreshed.",
            status=http.HTTP_201_CREATED if created else http.HTTP_200_OK,
        )


class UserDeviceRemoveApi(APIView):
    permission_classes = [IsInternalOrSelf]

    @extend_schema(summary="Remove a device", responses={200: None})
    def delete(self, request, user_id, device_id):
        services.device_remove(user_id=user_id, device_id=device_id)
        return ok(None, message="Device removed.")


class NotificationLogFilterSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.CHOICES, required=False)
    status = serializers.ChoiceField(choices=DeliveryStatus.CHOICES, required=False)


class UserNotificationsApi(APIView):
    permission_classes = [IsInternalOrSelf]

    @extend_schema(
        summary="The user's notification log",
        parameters=[NotificationLogFilterSerializer],
        responses=NotificationLogOutputSerializer(many=True),
    )
    def get(self, request, user_id):
        filters = _validated(NotificationLogFilterSerializer, request.query_params)
        logs = selectors.notification_log_list(
            user_id=user_id, channel=filters.get("channel", ""), status=filters.get("status", "")
        )
        return paginate(logs, request, NotificationLogOutputSerializer)


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


class DeviceDeactivateApi(APIView):
    """The push service reports a dead token; every device with it stops receiving."""

    permission_classes = [IsInternal]

    class DeviceDeactivateInputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=512)
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True)

    @extend_schema(
        summary="Deactivate every device with a token (internal)",
        request=DeviceDeactivateInputSerializer,
        responses=DEACTIVATED_SCHEMA,
    )
    def post(self, request):
        data = _validated(self.DeviceDeactivateInputSerializer, request.data)
        count = services.devices_deactivate_by_token(token=data["token"], reason=data.get("reason", ""))
        return ok({"deactivated": count}, message=f"{count} device(s) deactivated.")


MAX_ERROR_LENGTH = 5000


class StatusReportInputSerializer(serializers.Serializer):
    notification_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=DeliveryStatus.CHOICES)
    timestamp = serializers.DateTimeField()
    error = serializers.CharField(required=False, allow_blank=True, allow_null=True, trim_whitespace=False)
    user_id = serializers.UUIDField(required=False, allow_null=True)
    attempt = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=10_000)
    metadata = serializers.DictField(required=False, allow_null=True)

    def to_report(self) -> delivery_status.StatusReport:
        data = self.validated_data
        return delivery_status.StatusReport(
            notification_id=data["notification_id"],
            status=data["status"],
            timestamp=data["timestamp"],
            # Long SMTP transcripts are cut, not refused: the report must not be lost.
            error=(data.get("error") or "")[:MAX_ERROR_LENGTH],
            user_id=data.get("user_id"),
            attempt=data.get("attempt"),
            metadata=data.get("metadata") or {},
        )


class StatusReportApi(APIView):
    """One delivery report, or a list of them from a batching worker (answered per item)."""

    permission_classes = [IsInternal]
    channel: str = ""

    @extend_schema(
        summary="Delivery status report(s) (internal): one object or a list",
        request=StatusReportInputSerializer,
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, 409)},
    )
    def post(self, request):
        if isinstance(request.data, list):
            return self._record_many(request.data)
        if not isinstance(request.data, dict):
            raise ApplicationError(ErrorCode.VALIDATION_ERROR, "Send one status report object or a list of them.")
        serializer = StatusReportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = delivery_status.notification_status_record(channel=self.channel, report=serializer.to_report())
        return ok(self._result_data(result), message=f"Report {result.outcome}.")

    @staticmethod
    def _result_data(result: delivery_status.StatusRecordResult) -> dict:
        return {"notification_id": str(result.notification_id), "outcome": result.outcome, "status": result.status}

    def _record_many(self, items: list):
        limit = settings.STATUS_REPORT_MAX_BATCH
        if not items or len(items) > limit:
            raise ApplicationError(
                ErrorCode.VALIDATION_ERROR, f"Send between 1 and {limit} reports in one call.", data={"reports": []}
            )
        results: list[dict | None] = [None] * len(items)
        valid: list[tuple[int, delivery_status.StatusReport]] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                results[index] = {
                    "index": index,
                    "outcome": StatusOutcome.REJECTED,
                    "errors": {"non_field_errors": ["Expected an object."]},
                }
                continue
            serializer = StatusReportInputSerializer(data=item)
            if serializer.is_valid():
                valid.append((index, serializer.to_report()))
            else:
                results[index] = {
                    "index": index,
                    "notification_id": item.get("notification_id"),
                    "outcome": StatusOutcome.REJECTED,
                    "errors": serializer.errors,
                }
        # The valid reports in one set-based transaction (three statements for any count).
        recorded = delivery_status.notification_status_record_batch(
            channel=self.channel, reports=[report for _, report in valid]
        )
        for (index, report), result in zip(valid, recorded, strict=True):
            if isinstance(result, ApplicationError):
                results[index] = {
                    "index": index,
                    "notification_id": str(report.notification_id),
                    "outcome": StatusOutcome.REJECTED,
                    "error": result.code,
                    "errors": result.data,
                }
            else:
                results[index] = {"index": index, **self._result_data(result)}
        accepted = sum(1 for r in results if r["outcome"] != StatusOutcome.REJECTED)
        data = {"accepted": accepted, "rejected": len(results) - accepted, "results": results}
        if not accepted:
            raise ApplicationError(ErrorCode.VALIDATION_ERROR, "No report in the list was valid.", data=data)
        return ok(data, message=f"{accepted} of {len(results)} reports accepted.")


class EmailStatusReportApi(StatusReportApi):
    channel = Channel.EMAIL


class PushStatusReportApi(StatusReportApi):
    channel = Channel.PUSH


class NotificationStatusApi(APIView):
    permission_classes = [IsInternal]

    @extend_schema(
        summary="A notification's status and history (internal)", responses=NotificationStatusOutputSerializer
    )
    def get(self, request, notification_id):
        log = selectors.notification_status_get(notification_id=notification_id)
        return ok(NotificationStatusOutputSerializer(log).data)
