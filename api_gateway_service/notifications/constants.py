"""Names the gateway shares between its modules: error codes, statuses, cache keys.

Queue names and the exchange come from ``notification_common.rabbitmq`` (one topology).
"""

from django.db import models

from notification_common.exceptions import ErrorCode
from notification_common.rabbitmq import EMAIL_QUEUE, PUSH_QUEUE

MESSAGE_SCHEMA_VERSION = 1


class GatewayErrorCode:
    """Error codes the gateway answers with (the shared ones plus its own)."""

    VALIDATION_ERROR = ErrorCode.VALIDATION_ERROR
    PERMISSION_DENIED = ErrorCode.PERMISSION_DENIED
    PAYLOAD_TOO_LARGE = ErrorCode.PAYLOAD_TOO_LARGE
    IDEMPOTENCY_CONFLICT = ErrorCode.IDEMPOTENCY_CONFLICT
    PREFERENCE_DISABLED = ErrorCode.PREFERENCE_DISABLED
    NO_ACTIVE_DEVICE = ErrorCode.NO_ACTIVE_DEVICE
    DEPENDENCY_UNAVAILABLE = ErrorCode.DEPENDENCY_UNAVAILABLE
    USER_NOT_FOUND = "user_not_found"
    USER_INACTIVE = "user_inactive"
    TEMPLATE_NOT_USER_TRIGGERABLE = "template_not_user_triggerable"
    # Cancelling: the message is already with the broker, or was never held back (no send_at).
    ALREADY_PUBLISHED = "already_published"
    NOT_SCHEDULED = "not_scheduled"


class OutboxErrorCode:
    """Refusals of the internal outbox endpoints (replaying parked rows)."""

    NOT_PARKED = "not_parked"
    ALREADY_REPLAYED = "already_replayed"
    CANCELLED = "cancelled"


class NotificationType(models.TextChoices):
    EMAIL = "email", "Email"
    PUSH = "push", "Push"


ROUTING_KEYS = {NotificationType.EMAIL: EMAIL_QUEUE, NotificationType.PUSH: PUSH_QUEUE}


class NotificationStatus(models.TextChoices):
    """The gateway's last known status; the live one is the user service's notification log."""

    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    # The gateway's own: held in the outbox until send_at, or cancelled before it was published.
    SCHEDULED = "scheduled", "Scheduled"
    CANCELLED = "cancelled", "Cancelled"


class StatusSource:
    USER_SERVICE = "user_service"
    GATEWAY = "gateway"


SENDER_USER_PREFIX = "user:"
SENDER_KEY_PREFIX = "key:"
TRACE_ID_HEADER = "x-request-id"
RATE_LIMIT_KEY_PREFIX = "gateway:send"
