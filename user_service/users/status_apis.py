"""HTTP APIs of delivery status: the workers' reports (users/delivery_status.py), the
notification log a user or an internal caller reads, and the feeds other services read from
it: final statuses for the gateway's status webhooks, per-minute counts for the admin
dashboard. Rules in docs/user_service.md, "Delivery status rules"."""

import threading

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from notification_common.authentication import IsInternal
from notification_common.envelope import ok
from notification_common.exceptions import ApplicationError, ErrorCode
from notification_common.pagination import paginate
from notification_common.schema import UNPAGINATED, error_responses
from users import delivery_status, selectors
from users.constants import Channel, DeliveryStatus
from users.models import NotificationLog
from users.permissions import IsInternalOrSelf

FEED_MAX_LIMIT = 1000
SETTLE_MAX_SECONDS = 3600
SERIES_MAX_MINUTES = 24 * 60


def _none_if_blank(value: str) -> str | None:
    return value or None


class NotificationLogOutputSerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()

    class Meta:
        model = NotificationLog
        fields = [
            "notification_id",
            "user_id",
            "channel",
            "status",
            "error",
            "attempts",
            "last_timestamp",
            "created_at",
            "updated_at",
        ]

    def get_error(self, log) -> str | None:
        return _none_if_blank(log.error)


class StatusEventOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.CHOICES)
    timestamp = serializers.DateTimeField()
    error = serializers.SerializerMethodField()
    attempt = serializers.IntegerField(allow_null=True)

    def get_error(self, event) -> str | None:
        return _none_if_blank(event.error)


# --- reports from the email and push workers ------------------------------------------

_validators = threading.local()


def _report_validator(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """One input serializer per thread validates every report (``run_validation`` keeps no
    state between items): a new one per item deep-copied its fields each time, which was most
    of the CPU of a batch (docs/user_service.md, "Cost of the delivery path")."""
    validator = getattr(_validators, "report", None)
    if validator is None or type(validator) is not serializer_class:
        validator = _validators.report = serializer_class()
    return validator


class StatusReportApi(APIView):
    """One delivery report, or a list of them from a batching worker (answered per item)."""

    permission_classes = [IsInternal]
    channel: str = ""

    @extend_schema_serializer(component_name="StatusReportInput")
    class InputSerializer(serializers.Serializer):
        notification_id = serializers.UUIDField()
        status = serializers.ChoiceField(choices=DeliveryStatus.CHOICES)
        timestamp = serializers.DateTimeField()
        error = serializers.CharField(required=False, allow_blank=True, allow_null=True, trim_whitespace=False)
        user_id = serializers.UUIDField(required=False, allow_null=True)
        attempt = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=10_000)
        metadata = serializers.DictField(required=False, allow_null=True)

    @extend_schema(
        summary="Delivery status report(s) (internal): one object or a list",
        request=InputSerializer,
        responses={200: OpenApiTypes.OBJECT, **error_responses(404, 409)},
    )
    def post(self, request):
        if isinstance(request.data, list):
            return self._record_list(request.data)
        if not isinstance(request.data, dict):
            raise ApplicationError(ErrorCode.VALIDATION_ERROR, "Send one status report object or a list of them.")
        try:
            validated = _report_validator(self.InputSerializer).run_validation(request.data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from None
        report = delivery_status.StatusReport.from_validated(validated)
        result = delivery_status.notification_status_record(channel=self.channel, report=report)
        return ok(result.as_data(), message=f"Report {result.outcome}.")

    def _record_list(self, items: list):
        limit = settings.STATUS_REPORT_MAX_BATCH
        if not items or len(items) > limit:
            raise ApplicationError(
                ErrorCode.VALIDATION_ERROR, f"Send between 1 and {limit} reports in one call.", data={"reports": []}
            )
        validator = _report_validator(self.InputSerializer)
        reports = [self._report_or_refusal(validator, item) for item in items]
        data = delivery_status.notification_status_record_list(channel=self.channel, items=reports)
        return ok(data, message=f"{data['accepted']} of {len(items)} reports accepted.")

    @staticmethod
    def _report_or_refusal(
        validator: serializers.Serializer, item
    ) -> delivery_status.StatusReport | delivery_status.InvalidReport:
        if not isinstance(item, dict):
            return delivery_status.InvalidReport(
                errors={"non_field_errors": ["Expected an object."]}, item_is_object=False
            )
        try:
            validated = validator.run_validation(item)
        except serializers.ValidationError as exc:
            # The same errors is_valid() would give (field -> messages).
            errors = serializers.as_serializer_error(exc)
            return delivery_status.InvalidReport(errors=errors, notification_id=item.get("notification_id"))
        return delivery_status.StatusReport.from_validated(validated)


class EmailStatusReportApi(StatusReportApi):
    channel = Channel.EMAIL


class PushStatusReportApi(StatusReportApi):
    channel = Channel.PUSH


# --- the notification log ---------------------------------------------------------------


class UserNotificationsApi(APIView):
    permission_classes = [IsInternalOrSelf]

    @extend_schema_serializer(component_name="NotificationLogFilter")
    class FilterSerializer(serializers.Serializer):
        channel = serializers.ChoiceField(choices=Channel.CHOICES, required=False)
        status = serializers.ChoiceField(choices=DeliveryStatus.CHOICES, required=False)

    @extend_schema(
        summary="The user's notification log",
        parameters=[FilterSerializer],
        responses=NotificationLogOutputSerializer(many=True),
    )
    def get(self, request, user_id):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        logs = selectors.notification_log_list(user_id=user_id, filters=filters.validated_data)
        return paginate(logs, request, NotificationLogOutputSerializer)


class NotificationStatusApi(APIView):
    permission_classes = [IsInternal]

    @extend_schema_serializer(component_name="NotificationStatusOutput")
    class OutputSerializer(NotificationLogOutputSerializer):
        history = StatusEventOutputSerializer(source="events", many=True)

        class Meta(NotificationLogOutputSerializer.Meta):
            fields = [*NotificationLogOutputSerializer.Meta.fields, "history"]

    @extend_schema(summary="A notification's status and history (internal)", responses=OutputSerializer)
    def get(self, request, notification_id):
        log = selectors.notification_status_get(notification_id=notification_id)
        return ok(self.OutputSerializer(log).data)


# --- feeds for the gateway and the admin dashboard -----------------------------------------


class StatusEventFeedApi(APIView):
    """Final statuses (delivered, failed) after a cursor, oldest first (internal)."""

    permission_classes = [IsInternal]

    @extend_schema_serializer(component_name="StatusEventFeedFilter")
    class FilterSerializer(serializers.Serializer):
        after = serializers.DateTimeField(required=False)
        after_id = serializers.IntegerField(required=False, default=0, min_value=0)
        settle_seconds = serializers.FloatField(required=False, default=2.0, min_value=0, max_value=SETTLE_MAX_SECONDS)
        limit = serializers.IntegerField(required=False, default=500, min_value=1, max_value=FEED_MAX_LIMIT)

    @extend_schema_serializer(component_name="StatusFeedEventOutput")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(help_text="Cursor part: pass it back as after_id.")
        notification_id = serializers.UUIDField()
        channel = serializers.CharField()
        status = serializers.CharField()
        error = serializers.CharField()
        timestamp = serializers.DateTimeField(help_text="When the worker reported it (occurred_at).")
        received_at = serializers.DateTimeField(help_text="Cursor part: pass it back as after.")

    @extend_schema(
        summary="Final delivery statuses after a cursor (internal)",
        parameters=[FilterSerializer],
        responses=OutputSerializer(many=True),
        extensions={UNPAGINATED: True},  # a cursor feed: no page meta
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        events = selectors.status_events_final_after(**filters.validated_data)
        return ok(self.OutputSerializer(events, many=True).data)


class DeliverySeriesApi(APIView):
    permission_classes = [IsInternal]

    @extend_schema_serializer(component_name="DeliverySeriesFilter")
    class FilterSerializer(serializers.Serializer):
        minutes = serializers.IntegerField(required=False, default=60, min_value=1, max_value=SERIES_MAX_MINUTES)

    @extend_schema(
        summary="Delivered and failed per minute (internal)",
        parameters=[FilterSerializer],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return ok(selectors.delivery_series(minutes=filters.validated_data["minutes"]))
