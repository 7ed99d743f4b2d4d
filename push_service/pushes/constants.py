"""Names the push service uses in more than one place: statuses, error codes, limits, keys."""

# Delivery (notification) status, as reported to the user service.
STATUS_PENDING = "pending"
STATUS_DELIVERED = "delivered"
STATUS_FAILED = "failed"
NOTIFICATION_STATUSES = (STATUS_PENDING, STATUS_DELIVERED, STATUS_FAILED)

# Per-device status: at most one push per device per notification; only "pending" is sent.
# "sending": committed just before the FCM call and replaced by the result after it; one
# still "sending" once its worker's claim ran out has an unknown outcome (docs/push_service.md).
DEVICE_SENT = "sent"
DEVICE_FAILED = "failed"
DEVICE_PENDING = "pending"
DEVICE_SENDING = "sending"
DEVICE_STATUSES = (DEVICE_SENT, DEVICE_FAILED, DEVICE_PENDING, DEVICE_SENDING)

# FCM v1 error codes (what firebase-admin's exceptions stand for), stored per device.
FCM_UNREGISTERED = "UNREGISTERED"
FCM_SENDER_ID_MISMATCH = "SENDER_ID_MISMATCH"
FCM_INVALID_ARGUMENT = "INVALID_ARGUMENT"
FCM_QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
FCM_UNAVAILABLE = "UNAVAILABLE"
FCM_INTERNAL = "INTERNAL"
FCM_THIRD_PARTY_AUTH_ERROR = "THIRD_PARTY_AUTH_ERROR"
FCM_UNKNOWN = "UNKNOWN"
# Errors after which the device is deactivated in the user service and never retried.
DEACTIVATING_ERRORS = frozenset({FCM_UNREGISTERED, FCM_SENDER_ID_MISMATCH, FCM_INVALID_ARGUMENT})

# Our own failure codes (notification.last_error starts with one, device.error_code holds one).
ERROR_PAYLOAD_TOO_LARGE = "payload_too_large"
ERROR_INVALID_PAYLOAD = "invalid_payload"
ERROR_TEMPLATE_NOT_FOUND = "template_not_found"
ERROR_MISSING_VARIABLES = "missing_variables"
ERROR_TEMPLATE_REJECTED = "template_rejected"
ERROR_TEMPLATE_UNAVAILABLE = "template_service_unavailable"
ERROR_FCM_UNAVAILABLE = "fcm_unavailable"
ERROR_FCM_CIRCUIT_OPEN = "fcm_circuit_open"
ERROR_ATTEMPTS_EXHAUSTED = "attempts_exhausted"
ERROR_CONCURRENT_DELIVERY = "concurrent_delivery"
# A device handed to FCM by a worker that stopped before recording the answer: not sent
# again (at most once per device), so it ends failed with this code.
ERROR_OUTCOME_UNKNOWN = "outcome_unknown"
ERROR_NO_VALID_TOKENS = "no_valid_tokens"

# FCM limit: 4096 bytes of message payload.
MAX_PAYLOAD_BYTES = 4096
# Real registration tokens are ~160-200 characters; the bound keeps the unique index sane.
MAX_TOKEN_LENGTH = 1024

DEACTIVATION_REASON_PREFIX = "fcm:"

# Redis key the consumer refreshes while its loop runs; the health check reads it.
HEARTBEAT_KEY = "push_service:consumer:heartbeat"

QUEUE_MESSAGE_SCHEMA = 1
