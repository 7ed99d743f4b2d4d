"""Who may call each gateway operation (notification_devtools/testing/auth_matrix.py)."""

import pytest

from notification_devtools.testing.auth_matrix import *  # noqa: F403
from notification_devtools.testing.auth_matrix import ANY_AUTHENTICATED, USER_A
from notifications.tests.factories import NotificationRequestFactory, OutboxMessageFactory

# Lists show only the caller's own notifications, so any authenticated caller may list; sending
# needs notifications:send or a user token (to itself, checked after validation); a notification
# is read or cancelled only by whoever sent it; stats and the outbox are for internal keys.
AUTH_MATRIX = {
    "GET /api/v1/notifications/": ANY_AUTHENTICATED,
    "GET /api/v1/notifications/stats/": {"internal"},
    "GET /api/v1/notifications/{notification_id}/": {"user_a"},
    "GET /api/v1/outbox/parked/": {"internal"},
    "POST /api/v1/notifications/": {"notifications:send", "user_a", "user_b"},
    "POST /api/v1/notifications/bulk/": {"notifications:send", "user_a", "user_b"},
    "POST /api/v1/notifications/{notification_id}/cancel/": {"user_a"},
    "POST /api/v1/outbox/{notification_id}/replay/": {"internal"},
    # The operators' message log searches every sender's notifications: internal keys only.
    "GET /api/v1/message-log/": {"internal"},
    # Webhooks belong to the sending key that registered them (others, and unknown ids: 404).
    "GET /api/v1/webhooks/": {"notifications:send"},
    "POST /api/v1/webhooks/": {"notifications:send"},
    "GET /api/v1/webhooks/{webhook_id}/": set(),
    "DELETE /api/v1/webhooks/{webhook_id}/": set(),
    "GET /api/v1/webhooks/{webhook_id}/deliveries/": set(),
    "POST /api/v1/webhooks/{webhook_id}/test/": set(),
    # One notification's deliveries across endpoints: the admin's message-log timeline.
    "GET /api/v1/webhooks/deliveries/": {"internal"},
}


@pytest.fixture
def matrix_resources(db) -> dict:
    notification = NotificationRequestFactory(sender=f"user:{USER_A}", user_id=USER_A)
    OutboxMessageFactory(notification=notification)  # every accepted notification has its row
    return {"notification_id": str(notification.id)}
