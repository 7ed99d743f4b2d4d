"""The gateway's HTTP API on notifications: accept, list, read and cancel a sender's own;
stats for the admin dashboard. Bulk intake, the outbox and the message log have their own
modules (bulk_apis.py, outbox_apis.py, message_log_apis.py)."""

import threading

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from notification_common.authentication import IsInternal
from notification_common.envelope import ok
from notification_common.languages import InvalidLanguage, normalize_language
from notification_common.pagination import paginate
from notification_common.request_context import get_request_id
from notification_common.schema import error_responses
from notifications.constants import NotificationStatus, NotificationType
from notifications.external_users import recipient_user_id
from notifications.fields import BoundedJSONObjectField, RFC3339DateTimeField
from notifications.models import NotificationRequest
from notifications.permissions import CanSendNotifications
from notifications.selectors import notification_get_for_sender, notification_list, notification_stats
from notifications.senders import sender_of
from notifications.services.cancellation import notification_cancel
from notifications.services.intake import notification_accept, notification_send_rate_limit_enforce
from notifications.services.status import notification_status_refresh

IDEMPOTENCY_HEADER = "Idempotency-Key"
REQUEST_ID_MAX_LENGTH = 128


class NotificationOutputSerializer(serializers.Serializer):
    notification_id = serializers.UUIDField(source="id")
    notification_type = serializers.CharField()
    user_id = serializers.UUIDField()
    template_code = serializers.CharField()
    language = serializers.CharField()
    variables = serializers.JSONField()
    priority = serializers.IntegerField()
    metadata = serializers.JSONField()
    request_id = serializers.CharField(source="idempotency_key", allow_null=True)
    status = serializers.CharField()
    queued = serializers.SerializerMethodField()
    send_at = serializers.DateTimeField(allow_null=True, help_text="When a scheduled notification goes out (UTC).")
    cancelled_at = serializers.DateTimeField(allow_null=True)
    quiet_hours_deferred = serializers.BooleanField(help_text="send_at was moved to the end of the user's quiet hours.")
    created_at = serializers.DateTimeField()

    def get_queued(self, notification) -> bool:
        outbox = getattr(notification, "outbox", None)
        return bool(outbox and outbox.published_at)


def _datetime_representation(value):
    # DRF's DateTimeField in ISO 8601: in the current time zone, UTC spelled Z.
    if not value:
        return None
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def notification_created_representation(notification: NotificationRequest, *, duplicate: bool) -> dict:
    """What ``NotificationCreateOutputSerializer`` gives for ``notification``, built directly.

    Every accepted request is answered with it, and instantiating the serializer (a deep copy
    of its sixteen fields) cost more CPU than the rest of the answer. The serializer stays the
    documented schema; tests hold the two equal.
    """
    outbox = getattr(notification, "outbox", None)
    idempotency_key = notification.idempotency_key
    return {
        "notification_id": str(notification.id),
        "notification_type": str(notification.notification_type),
        "user_id": str(notification.user_id),
        "template_code": str(notification.template_code),
        "language": str(notification.language),
        "variables": notification.variables,
        "priority": int(notification.priority),
        "metadata": notification.metadata,
        "request_id": None if idempotency_key is None else str(idempotency_key),
        "status": str(notification.status),
        "queued": bool(outbox and outbox.published_at),
        "send_at": _datetime_representation(notification.send_at),
        "cancelled_at": _datetime_representation(notification.cancelled_at),
        "quiet_hours_deferred": bool(notification.quiet_hours_deferred),
        "created_at": _datetime_representation(notification.created_at),
        "duplicate": duplicate,
    }


class NotificationCollectionApi(APIView):
    """POST accepts a notification, GET lists the sender's own (one URL, two operations)."""

    class NotificationCreateInputSerializer(serializers.Serializer):
        notification_type = serializers.ChoiceField(choices=NotificationType.choices)
        user_id = serializers.UUIDField(required=False, help_text="The recipient; or external_id instead.")
        external_id = serializers.CharField(
            required=False,
            max_length=255,
            help_text="The sender's own id for the recipient (API keys; see PUT /users/by-external-id/).",
        )
        template_code = serializers.SlugField(max_length=100)
        variables = BoundedJSONObjectField(required=False, default=dict)
        metadata = BoundedJSONObjectField(required=False, default=dict)
        priority = serializers.IntegerField(
            required=False, default=5, min_value=1, max_value=10, help_text="1..10, 10 is most urgent."
        )
        language = serializers.CharField(required=False, max_length=35, help_text="e.g. en, pt-BR")
        request_id = serializers.CharField(
            required=False, max_length=REQUEST_ID_MAX_LENGTH, help_text="Idempotency key (or Idempotency-Key)."
        )
        send_at = RFC3339DateTimeField(
            required=False,
            help_text="Schedule it: RFC 3339 with an offset or Z, in the future, at most 30 days ahead.",
        )
        bypass_quiet_hours = serializers.BooleanField(
            required=False, default=False, help_text="Send even inside the user's quiet hours (API keys only)."
        )

        def validate_external_id(self, value):
            if not isinstance(self.initial_data.get("external_id"), str):
                raise serializers.ValidationError("Must be a string.")
            return value

        def validate_bypass_quiet_hours(self, value):
            if not isinstance(self.initial_data.get("bypass_quiet_hours", False), bool):
                raise serializers.ValidationError("Must be true or false.")
            return value

        def validate_priority(self, value):
            if isinstance(self.initial_data.get("priority"), bool):
                raise serializers.ValidationError("A valid integer is required.")
            return value

        def validate_language(self, value):
            # The platform's one normaliser (zh-hant-tw -> zh-Hant-TW): the idempotency
            # fingerprint and the template service's lookups see one spelling per language.
            try:
                return normalize_language(value)
            except InvalidLanguage as exc:
                raise serializers.ValidationError("Must be a language tag such as en or pt-BR.") from exc

        def validate(self, attrs):
            if ("user_id" in attrs) == ("external_id" in attrs):
                message = "Send exactly one of user_id and external_id."
                raise serializers.ValidationError({"user_id": [message], "external_id": [message]})
            header = self.context.get("idempotency_header")
            body_key = attrs.get("request_id")
            if header is not None:
                header = header.strip()
                if not header or len(header) > REQUEST_ID_MAX_LENGTH:
                    raise serializers.ValidationError(
                        {"idempotency_key": [f"Must be 1 to {REQUEST_ID_MAX_LENGTH} characters."]}
                    )
                if body_key is not None and body_key != header:
                    raise serializers.ValidationError(
                        {"request_id": ["Differs from the Idempotency-Key header; send one or make them equal."]}
                    )
                attrs["request_id"] = header
            attrs.setdefault("request_id", None)
            attrs.setdefault("language", settings.NOTIFICATION_DEFAULT_LANGUAGE)
            return attrs

    class NotificationCreateOutputSerializer(NotificationOutputSerializer):
        duplicate = serializers.BooleanField()

    class NotificationListFilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=NotificationStatus.choices, required=False)
        notification_type = serializers.ChoiceField(choices=NotificationType.choices, required=False)

    class NotificationListOutputSerializer(NotificationOutputSerializer):
        variables = None
        metadata = None

    def get_permissions(self):
        if self.request.method == "POST":
            return [CanSendNotifications()]
        return [IsAuthenticated()]

    @extend_schema(
        operation_id="notification_create",
        request=NotificationCreateInputSerializer,
        responses={
            202: NotificationCreateOutputSerializer,
            200: NotificationCreateOutputSerializer,
            **error_responses(404, 409, 422),
        },
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=False)],
    )
    def post(self, request):
        sender = sender_of(request.user)
        notification_send_rate_limit_enforce(sender=sender)
        data = notification_create_input_validate(
            request.data, idempotency_header=request.headers.get(IDEMPOTENCY_HEADER)
        )
        # The stored notification keeps the user id, whichever way the request named the user.
        data["user_id"] = recipient_user_id(
            sender=sender, user_id=data.get("user_id"), external_id=data.pop("external_id", None)
        )
        accepted = notification_accept(sender=sender, trace_id=get_request_id() or "", **data)
        notification = accepted.notification
        data = notification_created_representation(notification, duplicate=accepted.duplicate)
        if accepted.duplicate:
            return ok(data, message="Duplicate request: the original notification.", status=200)
        if notification.quiet_hours_deferred:
            message = "Notification scheduled: deferred to the end of the user's quiet hours."
            return ok(data, message=message, status=202)
        if notification.send_at is not None:
            return ok(data, message="Notification scheduled.", status=202)
        return ok(data, message="Notification accepted.", status=202)

    @extend_schema(
        operation_id="notification_list",
        parameters=[NotificationListFilterSerializer],
        responses=NotificationListOutputSerializer(many=True),
    )
    def get(self, request):
        filters = self.NotificationListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = notification_list(sender=sender_of(request.user).label, filters=filters.validated_data)
        return paginate(queryset, request, self.NotificationListOutputSerializer)


_create_input = threading.local()


def notification_create_input_validate(data, *, idempotency_header: str | None) -> dict:
    """What ``NotificationCreateInputSerializer(data=data).is_valid(raise_exception=True)``
    validates, from one serializer per thread (gunicorn's threads take one request at a time).

    A new serializer deep-copies its declared fields, which was a tenth of an accepted
    request's CPU; a serializer keeps no state between validations but ``initial_data``, its
    context and its errors, set here each time. The same errors are raised the same way
    (tests hold the two equal).
    """
    serializer = getattr(_create_input, "serializer", None)
    if serializer is None:
        serializer = _create_input.serializer = NotificationCollectionApi.NotificationCreateInputSerializer()
    serializer.initial_data = data
    serializer._context = {"idempotency_header": idempotency_header}
    try:
        return dict(serializer.run_validation(data))
    except ValidationError as exc:
        serializer._errors = exc.detail  # what is_valid keeps; .errors words a null body as it does
        raise ValidationError(serializer.errors) from None
    finally:
        del serializer.initial_data, serializer._context
        serializer.__dict__.pop("_errors", None)


class NotificationDetailApi(APIView):
    """The sender's notification with its live status from the user service's log."""

    class NotificationDetailOutputSerializer(NotificationOutputSerializer):
        status_source = serializers.CharField()
        error = serializers.CharField(allow_null=True)
        attempts = serializers.IntegerField()
        history = serializers.ListField(child=serializers.DictField())
        updated_at = serializers.DateTimeField()

    @extend_schema(operation_id="notification_retrieve", responses=NotificationDetailOutputSerializer)
    def get(self, request, notification_id: str):
        notification = notification_get_for_sender(
            notification_id=notification_id, sender=sender_of(request.user).label
        )
        live = notification_status_refresh(notification=notification)
        log = live.log or {}
        notification.status = live.status
        notification.status_source = live.source
        notification.error = log.get("error")
        notification.attempts = log.get("attempts") or 0
        notification.history = log.get("history") or []
        notification.updated_at = log.get("updated_at") or notification.updated_at
        return ok(self.NotificationDetailOutputSerializer(notification).data)


class NotificationCancelApi(APIView):
    """Cancel the sender's scheduled notification before it is published (409 after)."""

    # A write: the same credentials as sending (a key with only `internal` is refused).
    permission_classes = [CanSendNotifications]

    @extend_schema(
        operation_id="notification_cancel",
        request=None,
        responses={200: NotificationOutputSerializer, **error_responses(404, 409)},
    )
    def post(self, request, notification_id: str):
        notification = notification_cancel(notification_id=notification_id, sender=sender_of(request.user).label)
        return ok(NotificationOutputSerializer(notification).data, message="Notification cancelled.")


class NotificationStatsApi(APIView):
    """Outbox backlog and accepted counts, for the admin dashboard (internal keys only)."""

    permission_classes = [IsInternal]

    class NotificationStatsOutputSerializer(serializers.Serializer):
        outbox = serializers.DictField()
        accepted = serializers.DictField()

    @extend_schema(operation_id="notification_stats", responses=NotificationStatsOutputSerializer)
    def get(self, request):
        return ok(self.NotificationStatsOutputSerializer(notification_stats()).data)
