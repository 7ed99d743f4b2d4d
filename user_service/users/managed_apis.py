"""HTTP APIs for sender-managed users (users/managed.py): PUT one user by its external id,
POST an import of up to MANAGED_USERS_IMPORT_MAX; GET resolves an external id (the gateway).

A key with ``users:write`` works in its own namespace (its key id); an ``internal`` key
(the gateway) names the sender's key id in ``?key_id=`` to resolve one of its users.
"""

import re

from drf_spectacular.utils import extend_schema, inline_serializer
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

    def to_item(self, external_id: str) -> managed.ManagedUser:
        data = self.validated_data
        return managed.ManagedUser(
            external_id=external_id,
            email=data["email"],
            name=data["name"],
            preferences=data.get("preferences"),
            devices=data.get("devices"),
        )


class ManagedUserImportItemSerializer(ManagedUserInputSerializer):
    external_id = serializers.CharField(max_length=EXTERNAL_ID_MAX_LENGTH, help_text=_EXTERNAL_ID_HELP)

    def validate_external_id(self, value):
        return _external_id_check(value)


class ManagedUserOutputSerializer(UserOutputSerializer):
    external_id = serializers.CharField()


def _caller_key_id(request) -> str:
    return request.user.info.key_id


def _managed_user_data(user_id) -> dict:
    return ManagedUserOutputSerializer(selectors.user_get(user_id=user_id)).data


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

    class KeyFilterSerializer(serializers.Serializer):
        key_id = serializers.CharField(max_length=64, required=False, help_text="The sender's key id (internal keys).")

    @extend_schema(
        summary="Create or update a sender-managed user by external id",
        request=ManagedUserInputSerializer,
        responses={201: ManagedUserOutputSerializer, 200: ManagedUserOutputSerializer, **error_responses(409)},
    )
    def put(self, request, external_id: str):
        external_id = _external_id_from_path(external_id)
        serializer = ManagedUserInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        (result,) = managed.managed_users_upsert(
            key_id=_caller_key_id(request), items=[serializer.to_item(external_id)]
        )
        if result.error is not None:
            raise result.error
        created = result.outcome == managed.CREATED
        return ok(
            _managed_user_data(result.user_id),
            message="User created." if created else "User updated.",
            status=http.HTTP_201_CREATED if created else http.HTTP_200_OK,
        )

    @extend_schema(
        summary="A sender-managed user by external id (internal keys name the sender's key_id)",
        parameters=[KeyFilterSerializer],
        responses={200: ManagedUserOutputSerializer, **error_responses(404)},
    )
    def get(self, request, external_id: str):
        external_id = _external_id_from_path(external_id)
        filters = self.KeyFilterSerializer(data=request.query_params)
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
        return ok(_managed_user_data(user.id))


class ManagedUserImportApi(APIView):
    """Up to MANAGED_USERS_IMPORT_MAX users in one transaction, answered per item."""

    permission_classes = [HasScope.of(Scope.USERS_WRITE)]

    class InputSerializer(serializers.Serializer):
        users = serializers.ListField(
            child=serializers.JSONField(), allow_empty=False, max_length=MANAGED_USERS_IMPORT_MAX
        )

    @extend_schema(
        summary=f"Create or update up to {MANAGED_USERS_IMPORT_MAX} sender-managed users",
        request=inline_serializer("ManagedUserImport", {"users": ManagedUserImportItemSerializer(many=True)}),
        responses={
            200: inline_serializer(
                "ManagedUserImportResult",
                {
                    "created": serializers.IntegerField(),
                    "updated": serializers.IntegerField(),
                    "rejected": serializers.IntegerField(),
                    "results": serializers.ListField(child=serializers.DictField()),
                },
            ),
            **error_responses(400),
        },
    )
    def post(self, request):
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        raw_items = body.validated_data["users"]
        answers: list[dict | None] = [None] * len(raw_items)
        valid: list[tuple[int, managed.ManagedUser]] = []
        for index, raw in enumerate(raw_items):
            item = ManagedUserImportItemSerializer(data=raw) if isinstance(raw, dict) else None
            if item is not None and item.is_valid():
                valid.append((index, item.to_item(item.validated_data["external_id"])))
                continue
            errors = item.errors if item is not None else {"non_field_errors": ["Expected an object."]}
            answers[index] = {
                "index": index,
                "external_id": raw.get("external_id") if isinstance(raw, dict) else None,
                "outcome": managed.REJECTED,
                "error": ErrorCode.VALIDATION_ERROR,
                "errors": errors,
            }
        results = managed.managed_users_upsert(key_id=_caller_key_id(request), items=[item for _, item in valid])
        for (index, _), result in zip(valid, results, strict=True):
            answer = {"index": index, "external_id": result.external_id, "outcome": result.outcome}
            if result.error is not None:
                answer.update(error=result.error.code, message=result.error.message, errors=result.error.data)
            else:
                answer["user_id"] = str(result.user_id)
            answers[index] = answer
        counts = {outcome: 0 for outcome in (managed.CREATED, managed.UPDATED, managed.REJECTED)}
        for answer in answers:
            counts[answer["outcome"]] += 1
        data = {**counts, "results": answers}
        if counts[managed.REJECTED] == len(answers):
            raise ApplicationError(ErrorCode.VALIDATION_ERROR, "No user in the list was accepted.", data=data)
        taken = len(answers) - counts[managed.REJECTED]
        return ok(data, message=f"{taken} of {len(answers)} users imported.")
