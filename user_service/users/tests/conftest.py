import pytest

from notification_common.remembered_api_keys import forget_remembered_verdicts
from users.tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 at Django's default cost takes ~0.5 s a hash here; the behaviour under test is the same.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clean_redis(redis_client):
    """Login failure counters and API-key verdicts must not leak between tests."""
    return redis_client


@pytest.fixture(autouse=True)
def _forget_local_key_verdicts():
    """A verdict one test's keys left in the process must not decide another test's request."""
    forget_remembered_verdicts()
    yield
    forget_remembered_verdicts()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def as_user(api_client, user_token):
    """``as_user(user)`` -> an API client carrying that user's access token."""

    def authenticate(user):
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_token(user.id)}")
        return api_client

    return authenticate


@pytest.fixture
def internal_client(api_client, internal_key):
    api_client.credentials(HTTP_X_API_KEY=internal_key)
    return api_client


@pytest.fixture
def sender_client(api_client, sender_key):
    api_client.credentials(HTTP_X_API_KEY=sender_key)
    return api_client
