"""HTTP APIs of push devices: a user's own (the user or internal callers), and the push
service's report of a dead token (internal)."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.views import APIView

from notification_common.authentication import IsInternal
from notification_common.envelope import ok
from notification_common.pagination import paginate
from users import selectors, services
from users.constants import Platform
from users.permissions import IsInternalOrSelf
from users.serializers import DeviceOutputSerializer


class UserDevicesApi(APIView):
    """GET lists the user's devices (active and not); POST adds one (the same token again: 200)."""

    permission_classes = [IsInternalOrSelf]

    @extend_schema_serializer(component_name="DeviceAddInput")
    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=512)
        platform = serializers.ChoiceField(choices=Platform.CHOICES, required=False)
        name = serializers.CharField(max_length=100, required=False, allow_blank=True)

    @extend_schema(summary="The user's devices", responses=DeviceOutputSerializer(many=True))
    def get(self, request, user_id):
        selectors.user_get(user_id=user_id)
        return paginate(selectors.device_list(user_id=user_id), request, DeviceOutputSerializer)

    @extend_schema(
        summary="Add a device (the same token again refreshes it)",
        request=InputSerializer,
        responses={201: DeviceOutputSerializer, 200: DeviceOutputSerializer},
    )
    def post(self, request, user_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
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


class DeviceDeactivateApi(APIView):
    """The push service reports a dead token; every device with it stops receiving."""

    permission_classes = [IsInternal]

    @extend_schema_serializer(component_name="DeviceDeactivateInput")
    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=512)
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True)

    @extend_schema_serializer(component_name="DevicesDeactivated")
    class OutputSerializer(serializers.Serializer):
        deactivated = serializers.IntegerField()

    @extend_schema(
        summary="Deactivate every device with a token (internal)",
        request=InputSerializer,
        responses=OutputSerializer,
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        count = services.devices_deactivate_by_token(
            token=serializer.validated_data["token"], reason=serializer.validated_data.get("reason", "")
        )
        return ok(self.OutputSerializer({"deactivated": count}).data, message=f"{count} device(s) deactivated.")
