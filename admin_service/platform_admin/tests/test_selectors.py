"""List filters of selectors.py (filters.py): each filter alone, and empty values filter nothing."""

import pytest
from django.utils import timezone

from platform_admin import selectors
from platform_admin.tests.factories import ApiKeyFactory, DeadLetterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys():
    """Three keys beside the bootstrap ones (registered after migrate), which the tests leave out."""
    return {
        "billing": ApiKeyFactory(name="billing", raw="nk_bill_secret", scopes=["notifications:send"]),
        "reports": ApiKeyFactory(name="reports", raw="nk_repo_secret", scopes=["notifications:read"]),
        "old": ApiKeyFactory(name="old billing", revoked_at=timezone.now(), scopes=["notifications:send"]),
    }


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({}, {"billing", "reports", "old billing"}),
        ({"revoked": None, "search": ""}, {"billing", "reports", "old billing"}),
        ({"revoked": True}, {"old billing"}),
        ({"revoked": False}, {"billing", "reports"}),
        ({"scope": "notifications:read"}, {"reports"}),
        ({"search": "BILL"}, {"billing", "old billing"}),
        ({"search": "nk_repo"}, {"reports"}),  # the prefix
        ({"revoked": False, "scope": "notifications:send", "search": "bill"}, {"billing"}),
    ],
)
def test_api_key_list_filters(keys, filters, expected):
    listed = selectors.api_key_list(filters=filters).filter(is_bootstrap=False)

    assert {key.name for key in listed} == expected


def test_api_key_list_is_newest_first(keys):
    listed = selectors.api_key_list().filter(is_bootstrap=False)

    assert [key.name for key in listed] == ["old billing", "reports", "billing"]


@pytest.fixture
def dead_letters():
    DeadLetterFactory(notification_id="n-mail", reason="smtp 550 mailbox unavailable", failure_kind="permanent")
    DeadLetterFactory(notification_id="n-push", channel="push", reason="fcm UNREGISTERED", failure_kind="expired")
    DeadLetterFactory(notification_id="n-done", reason="smtp 421 try later", replayed_at=timezone.now())


@pytest.mark.parametrize(
    "filters, expected",
    [
        (None, {"n-mail", "n-push", "n-done"}),
        ({"reason": "SMTP"}, {"n-mail", "n-done"}),
        ({"channel": "push"}, {"n-push"}),
        ({"failure_kind": "expired"}, {"n-push"}),
        ({"notification_id": "n-mail"}, {"n-mail"}),
        ({"notification_id": "n-ma"}, set()),  # exact, not a search
        ({"replayed": True}, {"n-done"}),
        ({"replayed": False}, {"n-mail", "n-push"}),
        ({"replayed": None, "reason": ""}, {"n-mail", "n-push", "n-done"}),
    ],
)
def test_dead_letter_list_filters(dead_letters, filters, expected):
    assert {d.notification_id for d in selectors.dead_letter_list(filters=filters)} == expected
