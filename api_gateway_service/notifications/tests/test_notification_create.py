"""POST /api/v1/notifications/: validation, auth, user checks and the published message."""

import uuid

import pytest

from notification_common.rabbitmq import EMAIL_QUEUE, PUSH_QUEUE
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.rabbit import drain
from notifications.models import NotificationRequest, OutboxMessage
from notifications.tests.conftest import notification_body

pytestmark = pytest.mark.django_db


def test_email_notification_lands_in_email_queue_with_the_documented_message(
    send, user_service, rabbit_channel, django_capture_on_commit_callbacks
):
    user_id = user_service.add_user(name="Ada", email="ada@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        response = send(notification_body(user_id, request_id="client-key-1", priority=7), HTTP_X_REQUEST_ID="trace-1")

    data = assert_envelope(response, status=202)["data"]
    assert data["status"] == "pending"
    assert data["duplicate"] is False
    [(message, properties)] = drain(rabbit_channel, EMAIL_QUEUE)
    assert message == {
        "schema": 1,
        "notification_id": data["notification_id"],
        "notification_type": "email",
        "user_id": user_id,
        "template_code": "welcome",
        "language": "en",
        "variables": {"name": "Ada", "link": "https://example.com"},
        "priority": 7,
        "metadata": {"campaign": "launch"},
        "request_id": "client-key-1",
        "trace_id": "trace-1",
        "recipient": {"email": "ada@example.com", "name": "Ada"},
        "created_at": data["created_at"].replace("Z", "+00:00"),
        "category": "transactional",
        "category_required": True,
    }
    assert properties.message_id == data["notification_id"]
    assert properties.headers == {"x-request-id": "trace-1"}
    assert properties.priority == 7
    assert properties.delivery_mode == 2
    assert properties.content_type == "application/json"


def test_accepted_answer_echoes_the_request(send, user_service, rabbit_channel):
    user_id = user_service.add_user()

    response = send(notification_body(user_id, request_id="echo-1", language="pt-br"))

    data = assert_envelope(response, status=202)["data"]
    assert uuid.UUID(data["notification_id"])
    assert data["user_id"] == user_id
    assert data["template_code"] == "welcome"
    assert data["language"] == "pt-BR"
    assert data["variables"] == {"name": "Ada", "link": "https://example.com"}
    assert data["metadata"] == {"campaign": "launch"}
    assert data["request_id"] == "echo-1"
    assert data["priority"] == 5


def test_outbox_row_is_marked_published_after_commit(
    send, user_service, rabbit_channel, django_capture_on_commit_callbacks
):
    user_id = user_service.add_user()

    with django_capture_on_commit_callbacks(execute=True):
        send(notification_body(user_id))

    outbox = OutboxMessage.objects.get()
    assert outbox.published_at is not None
    assert outbox.attempts == 1


def test_push_notification_carries_only_active_device_tokens(
    send, user_service, rabbit_channel, django_capture_on_commit_callbacks
):
    user_id = user_service.add_user(
        name="Ada",
        devices=[{"token": "tok-a", "active": True}, {"token": "tok-old", "active": False}, {"token": "tok-b"}],
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = send(notification_body(user_id, notification_type="push"))

    assert_envelope(response, status=202)
    [(message, _)] = drain(rabbit_channel, PUSH_QUEUE)
    assert message["recipient"] == {"push_tokens": ["tok-a", "tok-b"], "name": "Ada"}
    assert drain(rabbit_channel, EMAIL_QUEUE) == []


def test_defaults_apply_when_priority_language_variables_and_metadata_are_absent(send, user_service):
    user_id = user_service.add_user()
    body = notification_body(user_id, priority=..., language=..., variables=..., metadata=...)

    data = assert_envelope(send(body), status=202)["data"]

    assert (data["priority"], data["language"], data["variables"], data["metadata"]) == (5, "en", {}, {})
    assert data["request_id"] is None


@pytest.mark.parametrize(("given", "stored"), [("EN", "en"), ("pt_br", "pt-BR"), ("zh-Hant", "zh-Hant")])
def test_language_tag_is_normalized(send, user_service, given, stored):
    user_id = user_service.add_user()

    data = assert_envelope(send(notification_body(user_id, language=given)), status=202)["data"]

    assert data["language"] == stored


# -- validation --------------------------------------------------------------------------------

TOO_MANY_KEYS = {f"k{i}": i for i in range(101)}
TOO_LARGE = {"blob": "x" * (16 * 1024)}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("notification_type", "sms"),
        ("notification_type", ...),
        ("user_id", "not-a-uuid"),
        ("user_id", ...),
        ("template_code", "bad code!"),
        ("template_code", ""),
        ("template_code", ...),
        ("variables", ["not", "an", "object"]),
        ("variables", "text"),
        ("variables", TOO_MANY_KEYS),
        ("variables", TOO_LARGE),
        ("metadata", 42),
        ("metadata", TOO_MANY_KEYS),
        ("priority", 0),
        ("priority", 11),
        ("priority", "urgent"),
        ("priority", True),
        ("language", "english!"),
        ("language", "e"),
        ("request_id", "k" * 129),
        ("request_id", ""),
    ],
)
def test_invalid_field_is_refused_with_an_error_naming_it(send, field, value):
    response = send(notification_body(uuid.uuid4(), **{field: value}))

    body = assert_envelope(response, status=400, error="validation_error")
    assert field in body["data"]
    assert NotificationRequest.objects.count() == 0


def test_body_that_is_not_an_object_is_refused(send):
    response = send(["not", "an", "object"])

    assert_envelope(response, status=400, error="validation_error")


def test_malformed_json_is_a_parse_error(api_client, sender_key):
    response = api_client.post(
        "/api/v1/notifications/", data="{not json", content_type="application/json", HTTP_X_API_KEY=sender_key
    )

    assert_envelope(response, status=400, error="parse_error")


def test_deeply_nested_json_is_a_parse_error_not_a_crash(api_client, sender_key):
    nested = "[" * 100_000 + "]" * 100_000

    response = api_client.post(
        "/api/v1/notifications/", data=nested, content_type="application/json", HTTP_X_API_KEY=sender_key
    )

    assert_envelope(response, status=400, error="parse_error")


def test_body_over_the_size_cap_is_refused_with_413(send, settings):
    oversized = notification_body(uuid.uuid4(), variables={"blob": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})

    response = send(oversized)

    body = assert_envelope(response, status=413, error="payload_too_large")
    assert body["data"]["max_bytes"] == settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def test_object_bounds_follow_settings(send, user_service, settings):
    settings.NOTIFICATION_OBJECT_MAX_KEYS = 2
    user_id = user_service.add_user()

    response = send(notification_body(user_id, variables={"a": 1, "b": 2, "c": 3}))

    body = assert_envelope(response, status=400, error="validation_error")
    assert "at most 2 keys" in body["data"]["variables"][0]


# -- authentication and authorization -----------------------------------------------------------


def test_request_without_credentials_is_401(api_client):
    response = api_client.post("/api/v1/notifications/", notification_body(uuid.uuid4()), format="json")

    assert_envelope(response, status=401, error="not_authenticated")


def test_unknown_api_key_is_401(send):
    response = send(notification_body(uuid.uuid4()), key="no-such-key")

    assert_envelope(response, status=401, error="authentication_failed")


def test_internal_key_without_send_scope_is_403(send, internal_key):
    response = send(notification_body(uuid.uuid4()), key=internal_key)

    assert_envelope(response, status=403, error="permission_denied")


def test_user_token_may_send_to_its_own_user(send, user_service, user_token):
    user_id = user_service.add_user()

    response = send(notification_body(user_id), token=user_token(user_id))

    assert_envelope(response, status=202)
    assert NotificationRequest.objects.get().sender == f"user:{user_id}"


def test_user_token_matches_its_user_id_whatever_the_spelling(send, user_service, user_token):
    user_id = user_service.add_user()

    response = send(notification_body(user_id), token=user_token(user_id.upper()))

    assert_envelope(response, status=202)


def test_user_token_may_not_send_to_another_user(send, user_service, user_token):
    other_user = user_service.add_user()

    response = send(notification_body(other_user), token=user_token(uuid.uuid4()))

    body = assert_envelope(response, status=403, error="permission_denied")
    assert "user_id" in body["data"]
    assert NotificationRequest.objects.count() == 0


def test_expired_user_token_is_401(send, user_token):
    from datetime import timedelta

    user_id = uuid.uuid4()

    response = send(notification_body(user_id), token=user_token(user_id, lifetime=timedelta(seconds=-10)))

    assert_envelope(response, status=401, error="authentication_failed")


# -- the user check ---------------------------------------------------------------------------


def test_unknown_user_is_404_and_nothing_is_stored(send, user_service):
    response = send(notification_body(uuid.uuid4()))

    assert_envelope(response, status=404, error="user_not_found")
    assert NotificationRequest.objects.count() == 0


def test_inactive_user_is_422(send, user_service):
    user_id = user_service.add_user(is_active=False)

    assert_envelope(send(notification_body(user_id)), status=422, error="user_inactive")


def test_email_turned_off_in_preferences_is_422(send, user_service):
    user_id = user_service.add_user(email_enabled=False)

    response = send(notification_body(user_id, notification_type="email"))

    assert_envelope(response, status=422, error="preference_disabled")
    assert OutboxMessage.objects.count() == 0


def test_push_turned_off_in_preferences_is_422_even_with_devices(send, user_service):
    user_id = user_service.add_user(push_enabled=False)

    response = send(notification_body(user_id, notification_type="push"))

    assert_envelope(response, status=422, error="preference_disabled")


def test_push_without_an_active_device_is_422(send, user_service):
    user_id = user_service.add_user(devices=[{"token": "tok-old", "active": False}])

    response = send(notification_body(user_id, notification_type="push"))

    assert_envelope(response, status=422, error="no_active_device")


def test_a_device_added_after_the_user_was_cached_is_used_at_once(send, user_service):
    user_id = user_service.add_user(devices=[])
    assert_envelope(send(notification_body(user_id, notification_type="push")), status=422, error="no_active_device")
    user_service.add_user(user_id=user_id, devices=[{"token": "tok-new", "active": True}])

    response = send(notification_body(user_id, notification_type="push"))

    assert_envelope(response, status=202)


def test_email_with_push_off_is_still_accepted(send, user_service):
    user_id = user_service.add_user(push_enabled=False, devices=[])

    assert_envelope(send(notification_body(user_id, notification_type="email")), status=202)


def test_user_service_down_is_503_and_nothing_is_stored(send, user_service_down, rabbit_channel):
    response = send(notification_body(uuid.uuid4(), request_id="while-down"))

    body = assert_envelope(response, status=503, error="dependency_unavailable")
    assert body["data"] == {"dependency": "user_service"}
    assert NotificationRequest.objects.count() == 0
    assert OutboxMessage.objects.count() == 0
    assert drain(rabbit_channel, EMAIL_QUEUE) == []


def test_user_service_answering_5xx_is_503(send, user_service):
    user_id = user_service.add_user()
    user_service.server.fail_next(3, status=500)

    response = send(notification_body(user_id))

    assert_envelope(response, status=503, error="dependency_unavailable")


def test_user_lookup_is_cached_between_requests(send, user_service):
    user_id = user_service.add_user()

    send(notification_body(user_id))
    send(notification_body(user_id))

    assert len(user_service.user_lookups(user_id)) == 1


def test_user_lookup_carries_the_internal_key_and_request_id(send, user_service, settings):
    user_id = user_service.add_user()

    send(notification_body(user_id), HTTP_X_REQUEST_ID="trace-42")

    [lookup] = user_service.user_lookups(user_id)
    assert lookup["headers"]["X-API-Key"] == settings.NOTIFICATION_COMMON["SERVICE_API_KEY"]
    assert lookup["headers"]["X-Request-ID"] == "trace-42"
