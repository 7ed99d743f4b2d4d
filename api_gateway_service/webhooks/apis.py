"""Webhook endpoints of a sender key: create (secret shown once), list, delete, delivery log, test."""

from drf_spectacular.utils import extend_schema
from notifications.senders import sender_of
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from notification_common.api_keys import Scope
from notification_common.authentication import IsInternal, is_api_key
from notification_common.envelope import ok
from notification_common.pagination import paginate
from webhooks.constants import WebhookEvent
from webhooks.selectors import (
    webhook_delivery_list,
    webhook_delivery_list_for_notification,
    webhook_get_for_sender,
    webhook_list,
)
from webhooks.services import webhook_create, webhook_delete, webhook_test_send
from webhooks.url_rules import URL_MAX_LENGTH


class IsSenderKey(BasePermission):
    """Only API keys with notifications:send: events describe what that key sent."""

    message = "Webhooks need an API key with the notifications:send scope."

    def has_permission(self, request, view) -> bool:
        return is_api_key(request.user) and request.user.has_scope(Scope.NOTIFICATIONS_SEND)


class WebhookOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


class WebhookDeliveryOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    event = serializers.CharField()
    notification_id = serializers.UUIDField()
    state = serializers.CharField()
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    next_attempt_at = serializers.DateTimeField(allow_null=True, help_text="Next retry (null once settled).")
    give_up_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    history = serializers.ListField(child=serializers.DictField(), help_text="Every attempt: at, status_code, error.")
    payload = serializers.DictField()
    created_at = serializers.DateTimeField()


class WebhookCollectionApi(APIView):
    """POST registers an endpoint (the answer holds its signing secret, once); GET lists them."""

    permission_classes = [IsSenderKey]

    class WebhookCreateInputSerializer(serializers.Serializer):
        # Checked as a string here; the URL rules (scheme, addresses) are the service's.
        url = serializers.CharField(max_length=URL_MAX_LENGTH, trim_whitespace=False)
        events = serializers.ListField(
            child=serializers.ChoiceField(choices=WebhookEvent.choices), min_length=1, max_length=2
        )

        def validate_events(self, value):
            if len(set(value)) != len(value):
                raise serializers.ValidationError("Must not repeat an event.")
            return value

    class WebhookCreateOutputSerializer(WebhookOutputSerializer):
        secret = serializers.CharField(help_text="Signing secret: shown only in this answer.")

    @extend_schema(
        operation_id="webhook_create",
        request=WebhookCreateInputSerializer,
        responses={201: WebhookCreateOutputSerializer},
    )
    def post(self, request):
        serializer = self.WebhookCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = webhook_create(sender=sender_of(request.user).label, **serializer.validated_data)
        return ok(
            self.WebhookCreateOutputSerializer(endpoint).data,
            message="Webhook created. Keep the secret: it is not shown again.",
            status=201,
        )

    @extend_schema(operation_id="webhook_list", responses=WebhookOutputSerializer(many=True))
    def get(self, request):
        return paginate(webhook_list(sender=sender_of(request.user).label), request, WebhookOutputSerializer)


class WebhookDetailApi(APIView):
    permission_classes = [IsSenderKey]

    @extend_schema(operation_id="webhook_retrieve", responses=WebhookOutputSerializer)
    def get(self, request, webhook_id):
        endpoint = webhook_get_for_sender(webhook_id=webhook_id, sender=sender_of(request.user).label)
        return ok(WebhookOutputSerializer(endpoint).data)

    @extend_schema(operation_id="webhook_delete", responses=WebhookOutputSerializer)
    def delete(self, request, webhook_id):
        endpoint = webhook_get_for_sender(webhook_id=webhook_id, sender=sender_of(request.user).label)
        data = WebhookOutputSerializer(endpoint).data
        webhook_delete(endpoint=endpoint)
        return ok(data, message="Webhook deleted; its pending deliveries are dropped.")


class WebhookDeliveryListApi(APIView):
    permission_classes = [IsSenderKey]

    @extend_schema(operation_id="webhook_delivery_list", responses=WebhookDeliveryOutputSerializer(many=True))
    def get(self, request, webhook_id):
        endpoint = webhook_get_for_sender(webhook_id=webhook_id, sender=sender_of(request.user).label)
        return paginate(webhook_delivery_list(endpoint=endpoint), request, WebhookDeliveryOutputSerializer)


class WebhookTestApi(APIView):
    permission_classes = [IsSenderKey]

    @extend_schema(operation_id="webhook_test", request=None, responses={202: WebhookDeliveryOutputSerializer})
    def post(self, request, webhook_id):
        endpoint = webhook_get_for_sender(webhook_id=webhook_id, sender=sender_of(request.user).label)
        delivery = webhook_test_send(endpoint=endpoint)
        return ok(
            WebhookDeliveryOutputSerializer(delivery).data,
            message="Test event queued: the dispatcher sends it shortly.",
            status=202,
        )


class WebhookDeliveryByNotificationApi(APIView):
    """Webhook deliveries of one notification, whichever endpoint (internal: the admin's
    message-log timeline)."""

    permission_classes = [IsInternal]

    class DeliveryFilterSerializer(serializers.Serializer):
        notification_id = serializers.UUIDField()

    class NotificationDeliveryOutputSerializer(WebhookDeliveryOutputSerializer):
        webhook_id = serializers.UUIDField(source="endpoint_id")
        url = serializers.CharField(source="endpoint.url")
        sender = serializers.CharField(source="endpoint.sender")

    @extend_schema(
        operation_id="webhook_delivery_list_by_notification",
        parameters=[DeliveryFilterSerializer],
        responses=NotificationDeliveryOutputSerializer(many=True),
    )
    def get(self, request):
        filters = self.DeliveryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        deliveries = webhook_delivery_list_for_notification(**filters.validated_data)
        return paginate(deliveries, request, self.NotificationDeliveryOutputSerializer)
