"""The lean intake path: the request and its outbox row in one statement, the statements a new
request costs, the input validated by one serializer per thread and the answer built without
the output serializer (each held equal to what the serializers give)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from notification_common.rabbitmq import EMAIL_QUEUE
from notification_common.user_snapshots import user_snapshot_key
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.rabbit import drain
from notifications.apis import (
    NotificationCollectionApi,
    notification_create_input_validate,
    notification_created_representation,
)
from notifications.clients import template_facts_and_user_get, template_facts_get, user_get
from notifications.constants import NotificationStatus
from notifications.models import NotificationRequest, OutboxMessage
from notifications.services.intake_store import notification_with_outbox_insert
from notifications.tests.conftest import notification_body

pytestmark = pytest.mark.django_db


def store(*, idempotency_key="store-1", send_at=None, **overrides):
    fields = {
        "sender": "key:test",
        "idempotency_key": idempotency_key,
        "request_hash": "0" * 64,
        "notification_type": "email",
        "user_id": "6f1c2a52-4a1b-4c55-9a43-1d2b3c4d5e6f",
        "template_code": "welcome",
        "language": "en",
        "variables": {"name": "Ada", "nested": {"n": [1, 2]}},
        "priority": 7,
        "metadata": {"campaign": "launch"},
        "trace_id": "trace-1",
        "send_at": send_at,
        **overrides,
    }
    return notification_with_outbox_insert(
        notification_fields=fields,
        outbox_fields={"routing_key": EMAIL_QUEUE, "headers": {"x-request-id": "trace-1"}, "priority": 7},
        message_of=lambda notification: {"notification_id": str(notification.id), "schema": 1},
    )


def test_one_statement_stores_the_request_and_its_outbox_row_as_the_orm_reads_them():
    notification, outbox, body = store(status=NotificationStatus.SCHEDULED, send_at=datetime(2030, 1, 2, tzinfo=UTC))

    stored = NotificationRequest.objects.select_related("outbox").get()
    assert stored.pk == notification.pk
    assert stored.variables == {"name": "Ada", "nested": {"n": [1, 2]}}
    assert stored.metadata == {"campaign": "launch"}
    assert stored.status == NotificationStatus.SCHEDULED
    assert stored.send_at == datetime(2030, 1, 2, tzinfo=UTC)
    assert stored.created_at == notification.created_at
    assert stored.outbox.pk == outbox.pk
    assert stored.outbox.body == {"notification_id": str(notification.pk), "schema": 1}
    assert stored.outbox.headers == {"x-request-id": "trace-1"}
    assert (stored.outbox.attempts, stored.outbox.published_at, stored.outbox.last_error) == (0, None, "")
    assert body == b'{"notification_id":"%s","schema":1}' % str(notification.pk).encode()
    assert notification.outbox is outbox  # the answer's `queued` reads it, as after the ORM's create


def test_a_request_id_taken_meanwhile_writes_nothing_and_says_so():
    store(idempotency_key="taken")

    assert store(idempotency_key="taken") is None

    assert NotificationRequest.objects.count() == 1
    assert OutboxMessage.objects.count() == 1


def test_requests_without_a_request_id_never_collide():
    store(idempotency_key=None)
    store(idempotency_key=None)

    assert OutboxMessage.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_new_request_costs_three_statements_and_answers_queued(send, user_service, rabbit_channel):
    # The idempotency lookup, the one INSERT of the request and its outbox row (its own
    # transaction: no BEGIN/COMMIT), and the published mark after the publish.
    user_id = user_service.add_user()
    send(notification_body(user_id, request_id="warm-up"))  # user and template now cached

    with CaptureQueriesContext(connection) as queries:
        response = send(notification_body(user_id, request_id="counted"))

    assert assert_envelope(response, status=202)["data"]["queued"] is True
    statements = [query["sql"].split()[0] for query in queries.captured_queries]
    assert statements == ["SELECT", "WITH", "WITH"], statements
    assert len(drain(rabbit_channel, EMAIL_QUEUE)) == 2


@pytest.mark.django_db(transaction=True)
def test_the_published_message_is_the_stored_outbox_body(send, user_service, rabbit_channel):
    user_id = user_service.add_user()

    send(notification_body(user_id, variables={"name": "Zoë", "n": 1.5, "list": [None, True]}))

    [(message, _)] = drain(rabbit_channel, EMAIL_QUEUE)
    assert message == OutboxMessage.objects.get().body


@pytest.mark.parametrize("duplicate", [False, True])
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"status": NotificationStatus.SCHEDULED, "send_at": datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)},
        {"quiet_hours_deferred": True, "send_at": datetime(2030, 1, 2, 3, 4, tzinfo=timezone.get_fixed_timezone(120))},
        {"idempotency_key": None, "cancelled_at": datetime(2030, 1, 1, tzinfo=UTC) - timedelta(microseconds=1)},
    ],
)
def test_the_answer_is_what_the_documented_output_serializer_gives(changes, duplicate):
    notification, outbox, _ = store(**{key: value for key, value in changes.items() if key != "cancelled_at"})
    notification.cancelled_at = changes.get("cancelled_at")
    read_back = NotificationRequest.objects.select_related("outbox").get()
    read_back.cancelled_at = changes.get("cancelled_at")
    outbox.published_at = read_back.outbox.published_at = timezone.now()

    for candidate in (notification, read_back):  # as accepted, and as a duplicate loads it
        candidate.duplicate = duplicate
        expected = NotificationCollectionApi.NotificationCreateOutputSerializer(candidate).data
        assert notification_created_representation(candidate, duplicate=duplicate) == expected
        assert list(notification_created_representation(candidate, duplicate=duplicate)) == list(expected)


def validated_or_errors(validate):
    try:
        return validate()
    except ValidationError as exc:
        return exc.detail


USER_ID = "6f1c2a52-4a1b-4c55-9a43-1d2b3c4d5e6f"


@pytest.mark.parametrize(
    ("body", "header"),
    [
        ({"notification_type": "email", "user_id": USER_ID, "template_code": "welcome"}, None),
        (notification_body(USER_ID, request_id="r-1", send_at="2030-01-02T03:04:05+02:00"), "r-1"),
        ({}, None),
        (None, None),
        ([], None),
        ("text", None),
        (notification_body(USER_ID, priority=True, language="!!", variables=[]), None),
        (notification_body(USER_ID, priority="x", bypass_quiet_hours="yes", external_id=5), None),
        (notification_body(USER_ID, request_id="a"), "b"),
        (notification_body(USER_ID), " "),
        (notification_body(USER_ID), "x" * 129),
    ],
)
def test_the_per_thread_input_serializer_validates_as_a_new_one_would(body, header):
    serializer_class = NotificationCollectionApi.NotificationCreateInputSerializer

    def with_a_new_serializer():
        serializer = serializer_class(data=body, context={"idempotency_header": header})
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    expected = validated_or_errors(with_a_new_serializer)
    for _ in range(2):  # the second time on a serializer that has validated before
        assert validated_or_errors(lambda: notification_create_input_validate(body, idempotency_header=header)) == (
            expected
        )


@pytest.mark.parametrize("forgotten", [(), ("user",), ("template",), ("user", "template")])
def test_user_and_template_come_from_one_cache_read_and_only_what_is_missing_is_fetched(
    user_service, redis_client, forgotten
):
    user_id = user_service.add_user(name="Ada")
    template_path = "/api/v1/templates/welcome/"
    first = template_facts_and_user_get(template_code="welcome", user_id=user_id)
    if "user" in forgotten:
        redis_client.delete(user_snapshot_key(user_id))
    if "template" in forgotten:
        redis_client.delete("gateway:template-facts:v1:welcome")

    again = template_facts_and_user_get(template_code="welcome", user_id=user_id)

    assert again == first == (template_facts_get(template_code="welcome"), user_get(user_id=user_id))
    assert again[1]["name"] == "Ada"
    assert len(user_service.user_lookups(user_id)) == 1 + ("user" in forgotten)
    assert len(user_service.server.requests_to("GET", template_path)) == 1 + ("template" in forgotten)
