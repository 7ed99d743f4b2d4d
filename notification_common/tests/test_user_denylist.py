"""A deactivated user's access tokens stop working on every service within seconds."""

import uuid

import pytest

from notification_common import user_denylist
from notification_common.user_denylist import user_denied, user_denylist_add, user_denylist_remove
from notification_devtools.testing import assert_envelope, issue_user_token

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(autouse=True)
def _fresh(redis_client):
    user_denylist.forget_remembered()
    yield
    user_denylist.forget_remembered()


def whoami(api_client, user_id):
    return api_client.get("/t/whoami/", HTTP_AUTHORIZATION=f"Bearer {issue_user_token(user_id)}")


def test_a_listed_users_valid_token_is_refused(api_client, django_capture_on_commit_callbacks):
    user_id = uuid.uuid4()
    assert_envelope(whoami(api_client, user_id), status=200)

    with django_capture_on_commit_callbacks(execute=True):
        user_denylist_add(user_id)
    user_denylist.forget_remembered()  # what USER_DENYLIST_CHECK_SECONDS does in real time

    assert_envelope(whoami(api_client, user_id), status=401, error="authentication_failed")
    assert_envelope(whoami(api_client, uuid.uuid4()), status=200)  # other users unaffected


def test_reactivation_takes_the_user_off_the_list(api_client, django_capture_on_commit_callbacks):
    user_id = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        user_denylist_add(user_id)
    with django_capture_on_commit_callbacks(execute=True):
        user_denylist_remove(user_id)

    assert_envelope(whoami(api_client, user_id), status=200)


def test_an_answer_is_remembered_for_the_check_window_only(django_capture_on_commit_callbacks, settings):
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, USER_DENYLIST_CHECK_SECONDS=2.0)
    user_id, clock = uuid.uuid4(), Clock()
    assert user_denied(user_id, clock=clock) is False
    with django_capture_on_commit_callbacks(execute=True):
        user_denylist_add(user_id)

    clock.now += 1.9
    assert user_denied(user_id, clock=clock) is False  # still the remembered answer
    clock.now += 0.2
    assert user_denied(user_id, clock=clock) is True


def test_the_list_entry_lives_as_long_as_a_token(redis_client, django_capture_on_commit_callbacks, settings):
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, USER_DENYLIST_SECONDS=960)
    user_id = uuid.uuid4()

    with django_capture_on_commit_callbacks(execute=True):
        user_denylist_add(user_id)

    assert 950 < redis_client.ttl(f"user-denied:v1:{user_id}") <= 960


def test_nothing_is_written_before_the_deactivation_commits(redis_client, django_capture_on_commit_callbacks):
    user_id = uuid.uuid4()

    with django_capture_on_commit_callbacks(execute=False):
        user_denylist_add(user_id)

    assert not redis_client.exists(f"user-denied:v1:{user_id}")


def test_redis_down_lets_tokens_through(api_client, settings):
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, REDIS_URL="redis://127.0.0.1:1/0")

    assert user_denied(uuid.uuid4()) is False
