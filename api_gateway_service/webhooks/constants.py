"""Names of the webhooks app: events, delivery states, error codes (docs/api.md, "Webhooks")."""

from django.db import models

from notification_common.exceptions import ErrorCode

SIGNATURE_HEADER = "X-Notification-Signature"
# The sender's endpoint is told which event it got without parsing the body first.
EVENT_HEADER = "X-Notification-Event"
TEST_EVENT = "test"


class WebhookEvent(models.TextChoices):
    """Events a sender may subscribe to: the final statuses of a notification."""

    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    # Retried for WEBHOOK_RETRY_BUDGET_SECONDS without a 2xx: given up.
    FAILED = "failed", "Failed"


class WebhookErrorCode:
    VALIDATION_ERROR = ErrorCode.VALIDATION_ERROR
    NOT_FOUND = "not_found"
