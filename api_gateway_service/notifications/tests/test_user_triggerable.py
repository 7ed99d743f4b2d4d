"""A user token may trigger only templates marked user_triggerable, and only to itself;
API keys with notifications:send may send any template."""

import uuid

import pytest

from notification_common.redis_client import get_redis
from notification_common.service_clients import reset_clients
from notification_devtools.testing import assert_envelope
from notifications.models import NotificationRequest
from notifications.tests.conftest import notification_body

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_cached_template_answers():
    def clear():
        for key in get_redis().scan_iter(match="gateway:template-*"):
            get_redis().delete(key)

    clear()
    yield
    clear()


def test_a_user_token_cannot_send_a_template_that_is_not_user_triggerable(send, user_service, user_token):
    user_id = user_service.add_user()
    user_service.add_template("password_reset", user_triggerable=False)

    response = send(notification_body(user_id, template_code="password_reset"), token=user_token(user_id))

    body = assert_envelope(response, status=403, error="template_not_user_triggerable")
    assert "template_code" in body["data"]
    assert not NotificationRequest.objects.exists()


def test_a_user_token_cannot_send_an_unknown_template(send, user_service, user_token):
    user_id = user_service.add_user()

    response = send(notification_body(user_id, template_code="no_such_template"), token=user_token(user_id))

    assert_envelope(response, status=403, error="template_not_user_triggerable")


def test_a_user_token_can_send_a_user_triggerable_template_to_itself(send, user_service, user_token):
    user_id = user_service.add_user()
    user_service.add_template("digest_me", user_triggerable=True)

    response = send(notification_body(user_id, template_code="digest_me"), token=user_token(user_id))

    assert_envelope(response, status=202)


def test_an_api_key_sends_a_template_that_is_not_user_triggerable(send, user_service, stub_server):
    user_id = user_service.add_user()
    user_service.add_template("password_reset", user_triggerable=False)

    response = send(notification_body(user_id, template_code="password_reset"))

    assert_envelope(response, status=202)
    # Asked once all the same: the category decides the user's switches (then cached).
    assert len(stub_server.requests_to("GET", "/api/v1/templates/password_reset/")) == 1


def test_the_answer_is_cached(send, user_service, user_token, stub_server):
    user_id = user_service.add_user()
    user_service.add_template("digest_me", user_triggerable=True)

    for _ in range(3):
        body = notification_body(user_id, template_code="digest_me", request_id=str(uuid.uuid4()))
        assert_envelope(send(body, token=user_token(user_id)), status=202)

    assert len(stub_server.requests_to("GET", "/api/v1/templates/digest_me/")) == 1


def test_the_template_service_down_is_a_503_for_user_tokens(send, user_service, user_token, settings):
    user_id = user_service.add_user()
    settings.TEMPLATE_SERVICE_URL = "http://127.0.0.1:1"
    reset_clients()

    response = send(notification_body(user_id, template_code="digest_me"), token=user_token(user_id))

    assert_envelope(response, status=503, error="dependency_unavailable")
    assert response["Retry-After"]
