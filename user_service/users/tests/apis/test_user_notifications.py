"""GET /api/v1/users/{user_id}/notifications/: the user's log, paginated and filterable."""

import pytest

from notification_devtools.testing import assert_envelope
from users.tests.factories import NotificationLogFactory, UserFactory

pytestmark = pytest.mark.django_db


def url(user_id) -> str:
    return f"/api/v1/users/{user_id}/notifications/"


@pytest.fixture
def logs(user):
    return [
        NotificationLogFactory(user_id=user.id, channel="email", status="delivered"),
        NotificationLogFactory(user_id=user.id, channel="email", status="failed", error="550"),
        NotificationLogFactory(user_id=user.id, channel="push", status="pending"),
        NotificationLogFactory(channel="email", status="delivered"),  # someone else's
    ]


def test_user_sees_their_own_log_newest_first(as_user, user, logs):
    body = assert_envelope(as_user(user).get(url(user.id)), status=200)

    assert [n["notification_id"] for n in body["data"]] == [str(n.notification_id) for n in reversed(logs[:3])]
    assert body["meta"]["total"] == 3


def test_log_items_carry_status_and_error(as_user, user, logs):
    items = as_user(user).get(url(user.id), {"status": "failed"}).json()["data"]

    assert [(i["channel"], i["status"], i["error"]) for i in items] == [("email", "failed", "550")]


def test_log_filters_by_channel_and_status(as_user, user, logs):
    email = as_user(user).get(url(user.id), {"channel": "email"}).json()
    delivered_email = as_user(user).get(url(user.id), {"channel": "email", "status": "delivered"}).json()

    assert email["meta"]["total"] == 2
    assert delivered_email["meta"]["total"] == 1


@pytest.mark.parametrize(("param", "value"), [("channel", "sms"), ("status", "sent"), ("limit", "-3")])
def test_bad_filter_is_named_in_a_400(as_user, user, param, value):
    response = as_user(user).get(url(user.id), {param: value})

    assert param in assert_envelope(response, status=400, error="validation_error")["data"]


def test_internal_caller_reads_any_users_log(internal_client, user, logs):
    assert internal_client.get(url(user.id)).json()["meta"]["total"] == 3


def test_another_users_token_answers_403(as_user, user):
    assert_envelope(as_user(UserFactory()).get(url(user.id)), status=403, error="permission_denied")


def test_without_credentials_answers_401(api_client, user):
    assert_envelope(api_client.get(url(user.id)), status=401)
