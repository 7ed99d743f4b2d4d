"""Names the email service shares between its parts: statuses, outcomes, failure reasons, keys."""

from notification_common.rabbitmq import EMAIL_QUEUE  # noqa: F401 - re-exported: the queue this service consumes

MESSAGE_SCHEMA = 1
STATUS_REPORT_CHANNEL = "email"
NOTIFICATION_ID_HEADER = "X-Notification-ID"
# Redis key (no cache prefix) of the consumer's heartbeat (notification_common.heartbeat); the
# HTTP health check runs in another process, so a file next to the consumer would not do.
HEARTBEAT_KEY = "email_service:consumer:heartbeat"


class DeliveryStatus:
    PENDING = "pending"  # accepted, not delivered yet (a retry may be waiting in a delay queue)
    SENDING = "sending"  # claimed by a consumer that is talking to SMTP right now (lease)
    DELIVERED = "delivered"  # the SMTP server accepted the message
    FAILED = "failed"  # dead-lettered: permanent failure or attempts exhausted

    ALL = (PENDING, SENDING, DELIVERED, FAILED)
    CHOICES = [(s, s) for s in ALL]
    FINAL = (DELIVERED, FAILED)


class AttemptOutcome:
    SENT = "sent"
    TRANSIENT_FAILURE = "transient_failure"
    PERMANENT_FAILURE = "permanent_failure"
    # Handed to the SMTP server by a worker that stopped before it recorded the answer.
    OUTCOME_UNKNOWN = "outcome_unknown"

    ALL = (SENT, TRANSIENT_FAILURE, PERMANENT_FAILURE, OUTCOME_UNKNOWN)
    CHOICES = [(s, s) for s in ALL]


class AttemptStage:
    RENDER = "render"
    SMTP = "smtp"

    CHOICES = [(RENDER, RENDER), (SMTP, SMTP)]


class FailureReason:
    """Stable prefixes of failure reasons (``"<code>: <detail>"``) in the DB, reports and DLQ headers."""

    INVALID_MESSAGE = "invalid_message"
    TEMPLATE_NOT_FOUND = "template_not_found"
    MISSING_VARIABLES = "missing_variables"
    TEMPLATE_INVALID = "template_invalid"
    TEMPLATE_SERVICE_UNAVAILABLE = "template_service_unavailable"
    SMTP_RECIPIENT_REFUSED = "smtp_recipient_refused"
    SMTP_REJECTED = "smtp_rejected"
    SMTP_TEMPORARY_FAILURE = "smtp_temporary_failure"
    SMTP_CONNECTION_ERROR = "smtp_connection_error"
    SMTP_CIRCUIT_OPEN = "smtp_circuit_open"
    DELIVERY_IN_PROGRESS = "delivery_in_progress"
    OUTCOME_UNKNOWN = "outcome_unknown"  # handed over by a worker that stopped before the answer
    DATABASE_UNAVAILABLE = "database_unavailable"
    MAX_ATTEMPTS_EXCEEDED = "max_attempts_exceeded"  # prefix the consumer base puts on exhausted retries


def reason(code: str, detail: str = "") -> str:
    return f"{code}: {detail}" if detail else code
