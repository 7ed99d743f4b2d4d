"""Dead letters (stored by consumer.py from failed.queue): list, show, replay one or many."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from notification_common.client_ip import client_ip
from notification_common.envelope import ok
from notification_common.pagination import paginate
from notification_common.schema import error_responses
from platform_admin import selectors, services
from platform_admin.apis.common import ANY, body_validated, query_validated
from platform_admin.constants import Channel


class DeadLetterOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    message_id = serializers.CharField()
    notification_id = serializers.CharField()
    channel = serializers.CharField()
    original_queue = serializers.CharField()
    reason = serializers.CharField()
    failure_kind = serializers.CharField()
    attempts = serializers.IntegerField()
    history = serializers.JSONField()
    headers = serializers.JSONField()
    body = serializers.CharField()
    failed_at = serializers.DateTimeField(allow_null=True)
    received_at = serializers.DateTimeField()
    replayed_at = serializers.DateTimeField(allow_null=True)
    replay_count = serializers.IntegerField()
    # Could not be stored as it came: a reduced form, store_error says why (docs/admin_service.md).
    stored_reduced = serializers.BooleanField()
    store_error = serializers.CharField()
    body_encoding = serializers.CharField(help_text='"" for text, "base64" for the raw bytes')


class DeadLetterListApi(APIView):
    @extend_schema_serializer(component_name="DeadLetterListFilter")
    class FilterSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, max_length=200)
        channel = serializers.ChoiceField(choices=[c for c, _ in Channel.CHOICES], required=False)
        failure_kind = serializers.CharField(required=False, max_length=32)
        notification_id = serializers.CharField(required=False, max_length=64)
        replayed = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(
        parameters=[FilterSerializer], responses=DeadLetterOutputSerializer(many=True), summary="Dead letters"
    )
    def get(self, request):
        filters = query_validated(self.FilterSerializer, request)
        return paginate(selectors.dead_letter_list(filters=filters), request, DeadLetterOutputSerializer)


class DeadLetterDetailApi(APIView):
    @extend_schema(responses=DeadLetterOutputSerializer, summary="A dead letter")
    def get(self, request, dead_letter_id):
        return ok(DeadLetterOutputSerializer(selectors.dead_letter_get(dead_letter_id=dead_letter_id)).data)


class DeadLetterReplayApi(APIView):
    @extend_schema(
        request=None,
        responses={200: DeadLetterOutputSerializer, **error_responses(409, 422)},
        summary="Replay a dead letter (once)",
    )
    def post(self, request, dead_letter_id):
        dead_letter = services.dead_letter_replay(
            dead_letter_id=selectors.dead_letter_get(dead_letter_id=dead_letter_id).pk,
            actor=request.user,
            ip=client_ip(request),
        )
        return ok(DeadLetterOutputSerializer(dead_letter).data, message="Dead letter replayed.")


class DeadLetterBulkReplayApi(APIView):
    @extend_schema_serializer(component_name="DeadLetterBulkReplayInput")
    class InputSerializer(serializers.Serializer):
        ids = serializers.ListField(child=serializers.UUIDField(), allow_empty=False, max_length=500)

    @extend_schema(
        request=InputSerializer,
        responses=ANY,
        summary="Replay many dead letters",
        operation_id="admin_dead_letters_replay_many",
    )
    def post(self, request):
        data = body_validated(self.InputSerializer, request)
        outcome = services.dead_letters_replay(ids=data["ids"], actor=request.user, ip=client_ip(request))
        return ok(outcome, message=f"{len(outcome['replayed'])} dead letter(s) replayed.")
