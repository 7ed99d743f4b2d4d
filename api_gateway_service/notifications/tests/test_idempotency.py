"""The same request_id from the same sender is one notification, even under concurrency."""

import threading
import uuid

import pytest
from django.db import connections
from rest_framework.test import APIClient

from notification_common.conf import common_settings
from notification_common.rabbitmq import EMAIL_QUEUE, get_publisher
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.rabbit import drain
from notifications.models import NotificationRequest, OutboxMessage
from notifications.tests.conftest import NOTIFICATIONS_URL, notification_body

pytestmark = pytest.mark.django_db


def test_duplicate_request_id_returns_the_original_notification_with_200(
    send, user_service, rabbit_channel, django_capture_on_commit_callbacks
):
    user_id = user_service.add_user()
    body = notification_body(user_id, request_id="client-key-1")
    with django_capture_on_commit_callbacks(execute=True):
        first = assert_envelope(send(body), status=202)["data"]

    with django_capture_on_commit_callbacks(execute=True):
        replay = assert_envelope(send(body), status=200)["data"]

    assert replay["notification_id"] == first["notification_id"]
    assert replay["duplicate"] is True
    assert NotificationRequest.objects.count() == 1
    assert len(drain(rabbit_channel, EMAIL_QUEUE)) == 1


def test_idempotency_key_header_is_an_alias_of_request_id(send, user_service):
    user_id = user_service.add_user()
    first = assert_envelope(send(notification_body(user_id), HTTP_IDEMPOTENCY_KEY="header-key"), status=202)

    replay = send(notification_body(user_id, request_id="header-key"))

    assert assert_envelope(replay, status=200)["data"]["notification_id"] == first["data"]["notification_id"]
    assert first["data"]["request_id"] == "header-key"


def test_header_and_body_keys_that_differ_are_refused(send, user_service):
    user_id = user_service.add_user()

    response = send(notification_body(user_id, request_id="body-key"), HTTP_IDEMPOTENCY_KEY="header-key")

    body = assert_envelope(response, status=400, error="validation_error")
    assert "request_id" in body["data"]


def test_same_request_id_with_a_different_body_is_409(send, user_service):
    user_id = user_service.add_user()
    original = assert_envelope(send(notification_body(user_id, request_id="k-1")), status=202)["data"]

    response = send(notification_body(user_id, request_id="k-1", variables={"name": "Grace"}))

    body = assert_envelope(response, status=409, error="idempotency_conflict")
    assert body["data"]["notification_id"] == original["notification_id"]
    assert NotificationRequest.objects.count() == 1


def test_replay_is_answered_without_asking_the_user_service_again(send, user_service, settings):
    user_id = user_service.add_user()
    body = notification_body(user_id, request_id="k-2")
    send(body)
    settings.USER_SERVICE_URL = "http://127.0.0.1:1"  # the user service is gone now

    assert_envelope(send(body), status=200)


def test_the_same_request_id_from_two_senders_is_two_notifications(send, user_service, user_token):
    user_id = user_service.add_user()
    body = notification_body(user_id, request_id="shared-key")

    by_key = assert_envelope(send(body), status=202)["data"]
    by_user = assert_envelope(send(body, token=user_token(user_id)), status=202)["data"]

    assert by_key["notification_id"] != by_user["notification_id"]


def test_requests_without_request_id_are_each_a_new_notification(send, user_service):
    user_id = user_service.add_user()

    first = assert_envelope(send(notification_body(user_id)), status=202)["data"]
    second = assert_envelope(send(notification_body(user_id)), status=202)["data"]

    assert first["notification_id"] != second["notification_id"]
    assert NotificationRequest.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_posts_with_one_key_store_one_row_and_publish_one_message(
    user_service, rabbit_channel, sender_key
):
    user_id = user_service.add_user()
    body = notification_body(user_id, request_id=f"race-{uuid.uuid4()}")
    start = threading.Barrier(20)
    answers = []

    def post():
        try:
            start.wait()
            response = APIClient().post(NOTIFICATIONS_URL, body, format="json", HTTP_X_API_KEY=sender_key)
            answers.append((response.status_code, response.json()["data"]["notification_id"]))
        finally:
            get_publisher(common_settings.RABBITMQ_URL).close()
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 19 + [202]
    assert len({notification_id for _, notification_id in answers}) == 1
    assert NotificationRequest.objects.count() == 1
    assert OutboxMessage.objects.count() == 1
    assert len(drain(rabbit_channel, EMAIL_QUEUE)) == 1
