"""POST /api/v1/notifications/bulk/: up to NOTIFICATION_BULK_MAX_ITEMS notifications in one
request, each answered on its own (notifications/services/bulk.py)."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from notification_common.envelope import ok
from notification_common.exceptions import ApplicationError, DependencyUnavailable, ErrorCode
from notification_common.request_context import get_request_id
from notification_common.schema import error_responses
from notifications.apis import NotificationCollectionApi, NotificationOutputSerializer
from notifications.external_users import recipient_user_id
from notifications.permissions import CanSendNotifications
from notifications.senders import sender_of
from notifications.services.bulk import REJECTED, SCHEDULED, notification_accept_bulk
from notifications.services.intake import notification_send_rate_limit_enforce

ItemInputSerializer = NotificationCollectionApi.NotificationCreateInputSerializer


def _with_user_id(sender, fields: dict) -> dict | ApplicationError:
    """An item naming its user by external_id, resolved (or its refusal, for that item only)."""
    fields = dict(fields)
    try:
        fields["user_id"] = recipient_user_id(
            sender=sender, user_id=fields.get("user_id"), external_id=fields.pop("external_id", None)
        )
    except DependencyUnavailable:
        raise
    except ApplicationError as refusal:
        return refusal
    return fields


class NotificationBulkCreateApi(APIView):
    permission_classes = [CanSendNotifications]

    class InputSerializer(serializers.Serializer):
        notifications = serializers.ListField(child=serializers.DictField(), allow_empty=False)

        def validate_notifications(self, value):
            limit = settings.NOTIFICATION_BULK_MAX_ITEMS
            if len(value) > limit:
                raise serializers.ValidationError(f"At most {limit} notifications in one request.")
            return value

    RESULT_FIELDS = {
        "index": serializers.IntegerField(),
        "outcome": serializers.ChoiceField(choices=["accepted", "scheduled", "duplicate", "rejected"]),
        "notification": NotificationOutputSerializer(required=False, allow_null=True),
        "error": serializers.CharField(required=False, allow_null=True),
        "status_code": serializers.IntegerField(required=False),
        "errors": serializers.JSONField(required=False, allow_null=True),
    }

    @extend_schema(
        operation_id="notification_bulk_create",
        request=InputSerializer,
        responses={
            202: inline_serializer(
                "NotificationBulkResult",
                {
                    "accepted": serializers.IntegerField(),
                    "scheduled": serializers.IntegerField(),
                    "duplicates": serializers.IntegerField(),
                    "rejected": serializers.IntegerField(),
                    "results": inline_serializer("NotificationBulkItemResult", RESULT_FIELDS, many=True),
                },
            ),
            **error_responses(400, 429),
        },
        summary="Accept up to 1,000 notifications, each with its own request_id and outcome",
    )
    def post(self, request):
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        raw_items = body.validated_data["notifications"]
        sender = sender_of(request.user)
        notification_send_rate_limit_enforce(sender=sender, count=len(raw_items))
        items = []
        for raw in raw_items:
            item = ItemInputSerializer(data=raw, context={"idempotency_header": None})
            if item.is_valid():
                items.append(_with_user_id(sender, item.validated_data))
            else:
                items.append(ApplicationError(ErrorCode.VALIDATION_ERROR, "Invalid input.", data=item.errors))
        results = notification_accept_bulk(sender=sender, items=items, trace_id=get_request_id() or "")
        answers = [self._answer(result) for result in results]
        counts = {"accepted": 0, "scheduled": 0, "duplicate": 0, "rejected": 0}
        for answer in answers:
            counts[answer["outcome"]] += 1
        data = {
            "accepted": counts["accepted"],
            "scheduled": counts["scheduled"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
            "results": answers,
        }
        if counts["rejected"] == len(answers):
            raise ApplicationError(ErrorCode.VALIDATION_ERROR, "No notification in the list was accepted.", data=data)
        taken = len(answers) - counts["rejected"]
        return ok(data, message=f"{taken} of {len(answers)} notifications accepted.", status=202)

    @staticmethod
    def _answer(result) -> dict:
        answer = {"index": result.index, "outcome": result.outcome}
        if result.outcome == REJECTED:
            error = result.error
            answer.update(error=error.code, status_code=error.status_code, message=error.message, errors=error.data)
            return answer
        answer["notification"] = NotificationOutputSerializer(result.notification).data
        if result.outcome == SCHEDULED:
            answer["send_at"] = answer["notification"].get("send_at")
        return answer
