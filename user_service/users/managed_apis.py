"""HTTP APIs for sender-managed users (users/managed.py): PUT one user by its external id,
POST an import of up to MANAGED_USERS_IMPORT_MAX; GET resolves an external id (the gateway).

A key with ``users:write`` works in its own namespace (its key id); an ``internal`` key
(the gateway) names the sender's key id in ``?key_id=`` to resolve one of its users.
"""

import re

from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.views import APIView

from notification_common.api_keys import Scope
from notification_common.authentication import HasScope
from notification_common.envelope import ok
from notification_common.exceptions import ApplicationError, ErrorCode
from notification_common.schema import error_responses
from users import managed, selectors
from users.constants import (
    EXTERNAL_ID_MAX_LENGTH,
    EXTERNAL_ID_PATTERN,
    MANAGED_USER_MAX_DEVICES,
    MANAGED_USERS_IMPORT_MAX,
    Platform,
)
from users.serializers import PreferencesSerializer, UserOutputSerializer

_EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN)
_EXTERNAL_ID_HELP = f"1 to {EXTERNAL_ID_MAX_LENGTH} of A-Z a-z 0-9 . _ : @ + = | ~ -"


def _external_id_check(value: str) -> str:
    if not value or len(value) > EXTERNAL_ID_MAX_LENGTH or not _EXTERNAL_ID.match(value):
        raise serializers.ValidationError(f"Must be {_EXTERNAL_ID_HELP}.")
    return value


class ManagedDeviceInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)
    platform = serializers.ChoiceField(choices=Platform.CHOICES, required=False)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)


# The PUT body, and an import item without its external_id.
class ManagedUserInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=150)
    preferences = PreferencesSerializer(required=False)
    devices = serializers.ListField(
        child=ManagedDeviceInputSerializer(),
        required=False,
        max_length=MANAGED_USER_MAX_DEVICES,
        help_text="The complete set of active devices: any other is deactivated. Leave out to keep them.",
    )

    def validate_devices(self, value):
        tokens = [device["token"] for device in value]
        if len(set(tokens)) != len(tokens):
            raise serializers.ValidationError("A token appears more than once.")
        return value


def _caller_key_id(request) -> str:
    return request.user.info.key_id


def _external_id_from_path(external_id: str) -> str:
    try:
        return _external_id_check(external_id)
    except serializers.ValidationError as exc:
        raise ApplicationError(
            ErrorCode.VALIDATION_ERROR, "Invalid external_id.", data={"external_id": exc.detail}
        ) from exc


class ManagedUserApi(APIView):
    """PUT creates or updates the caller's user ``external_id``; GET reads it."""

    def get_permissions(self):
        method = getattr(getattr(self, "request", None), "method", "")
        if method == "GET":
            return [HasScope.of(Scope.USERS_WRITE, Scope.INTERNAL)()]
        return [HasScope.of(Scope.USERS_WRITE)()]

    @extend_schema_serializer(component_name="ManagedUserKeyFilter")
    class FilterSerializer(serializers.Serializer):
        key_id = serializers.CharField(max_length=64, required=False, help_text="The sender's key id (internal keys).")

    @extend_schema_serializer(component_name="ManagedUserOutput")
    class OutputSerializer(UserOutputSerializer):
        external_id = serializers.CharField()

    @extend_schema(
        summary="Create or update a sender-managed user by external id",
        request=ManagedUserInputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer, **error_responses(409)},
    )
    def put(self, request, external_id: str):
        external_id = _external_id_from_path(external_id)
        serializer = ManagedUserInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = managed.ManagedUser.from_validated(serializer.validated_data, external_id=external_id)
        (result,) = managed.managed_users_upsert(key_id=_caller_key_id(request), items=[item])
        if result.error is not None:
            raise result.error
        created = result.outcome == managed.CREATED
        return ok(
            self.OutputSerializer(selectors.user_get(user_id=result.user_id)).data,
            message="User created." if created else "User updated.",
            status=http.HTTP_201_CREATED if created else http.HTTP_200_OK,
        )

    @extend_schema(
        summary="A sender-managed user by external id (internal keys name the sender's key_id)",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer, **error_responses(404)},
    )
    def get(self, request, external_id: str):
        external_id = _external_id_from_path(external_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        key_id = filters.validated_data.get("key_id")
        if not request.user.has_scope(Scope.INTERNAL):
            if key_id not in (None, _caller_key_id(request)):
                raise ApplicationError(
                    ErrorCode.PERMISSION_DENIED,
                    "A sender key may read only its own users.",
                    403,
                    data={"key_id": ["Must be the calling key's own id, or left out."]},
                )
            key_id = _caller_key_id(request)
        elif not key_id:
            raise ApplicationError(
                ErrorCode.VALIDATION_ERROR,
                "Name the sender whose external id this is.",
                data={"key_id": ["This field is required with an internal key."]},
            )
        user = managed.managed_user_get(key_id=key_id, external_id=external_id)
        # The gateway's lookup when its mapping has expired: the user as GET users/{id}/ reads it
        # (one statement), plus the external id it was found by (equal to the stored one).
        return ok({**selectors.user_profile_get(user_id=user.id), "external_id": external_id})


class ManagedUserImportApi(APIView):
    """Up to MANAGED_USERS_IMPORT_MAX users in one transaction, answered per item."""

    permission_classes = [HasScope.of(Scope.USERS_WRITE)]

    # Items are validated one by one (ItemSerializer), each answered on its own: the body is
    # checked only for a list of 1 to MANAGED_USERS_IMPORT_MAX of them.
    class InputSerializer(serializers.Serializer):
        users = serializers.ListField(
            child=serializers.JSONField(), allow_empty=False, max_length=MANAGED_USERS_IMPORT_MAX
        )

    @extend_schema_serializer(component_name="ManagedUserImportItem")
    class ItemSerializer(ManagedUserInputSerializer):
        external_id = serializers.CharField(max_length=EXTERNAL_ID_MAX_LENGTH, help_text=_EXTERNAL_ID_HELP)

        def validate_external_id(self, value):
            return _external_id_check(value)

    @extend_schema_serializer(component_name="ManagedUserImportResult")
    class OutputSerializer(serializers.Serializer):
        created = serializers.IntegerField()
        updated = serializers.IntegerField()
        rejected = serializers.IntegerField()
        results = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        summary=f"Create or update up to {MANAGED_USERS_IMPORT_MAX} sender-managed users",
        # The documented body: what each item must be (InputSerializer checks only the list).
        request=inline_serializer("ManagedUserImport", {"users": ItemSerializer(many=True)}),
        responses={200: OutputSerializer, **error_responses(400)},
    )
    def post(self, request):
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        items = [self._item_or_refusal(raw) for raw in body.validated_data["users"]]
        data = managed.managed_users_import(key_id=_caller_key_id(request), items=items)
        taken = len(items) - data[managed.REJECTED]
        return ok(data, message=f"{taken} of {len(items)} users imported.")

    def _item_or_refusal(self, raw) -> managed.ManagedUser | managed.InvalidManagedUser:
        if not isinstance(raw, dict):
            return managed.InvalidManagedUser(errors={"non_field_errors": ["Expected an object."]})
        item = self.ItemSerializer(data=raw)
        if not item.is_valid():
            return managed.InvalidManagedUser(errors=item.errors, external_id=raw.get("external_id"))
        return managed.ManagedUser.from_validated(item.validated_data, external_id=item.validated_data["external_id"])
