"""Names the admin service uses in more than one place: error codes, audit actions,
Redis keys, header names of dead letters."""

from notification_common.rabbitmq.topology import EMAIL_QUEUE, PUSH_QUEUE


class AdminErrorCode:
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_API_KEY = "invalid_api_key"
    API_KEY_REVOKED = "api_key_revoked"
    ALREADY_REPLAYED = "already_replayed"
    NOT_REPLAYABLE = "not_replayable"
    UPSTREAM_ERROR = "upstream_error"


class AuditAction:
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    API_KEY_ROTATED = "api_key.rotated"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    TEMPLATE_CREATED = "template.created"
    TEMPLATE_VERSIONED = "template.versioned"
    TEMPLATE_ACTIVATED = "template.activated"
    DEAD_LETTER_REPLAYED = "dead_letter.replayed"
    OUTBOX_REPLAYED = "outbox.replayed"

    CHOICES = [
        (LOGIN_SUCCEEDED, "Login succeeded"),
        (LOGIN_FAILED, "Login failed"),
        (API_KEY_CREATED, "API key created"),
        (API_KEY_REVOKED, "API key revoked"),
        (API_KEY_ROTATED, "API key rotated"),
        (USER_DEACTIVATED, "User deactivated"),
        (USER_REACTIVATED, "User reactivated"),
        (TEMPLATE_CREATED, "Template created"),
        (TEMPLATE_VERSIONED, "Template version added"),
        (TEMPLATE_ACTIVATED, "Template version activated"),
        (DEAD_LETTER_REPLAYED, "Dead letter replayed"),
        (OUTBOX_REPLAYED, "Parked outbox message replayed"),
    ]


class TokenType:
    ACCESS = "access"
    REFRESH = "refresh"


# JWT claim names of admin tokens.
CLAIM_ADMIN_ID = "sub"
CLAIM_USERNAME = "username"
CLAIM_TOKEN_TYPE = "token_type"

API_KEY_PREFIX = "nk_"
API_KEY_VISIBLE_CHARS = 8
BOOTSTRAP_KEY_NAME = "bootstrap"

# key_id -> ISO time of the last successful verification, flushed to the database later.
REDIS_API_KEY_LAST_USED = "admin:apikey:last_used"
# Present while a key's last_used_at was written recently (SET NX EX = one write per period).
REDIS_API_KEY_FLUSH_MARK = "admin:apikey:flushed:{key_id}"


class BodyEncoding:
    """How DeadLetter.body holds the message body."""

    TEXT = ""
    BASE64 = "base64"  # the raw bytes, when they were not text PostgreSQL takes (NUL, bad UTF-8)


class Channel:
    EMAIL = "email"
    PUSH = "push"
    UNKNOWN = "unknown"

    CHOICES = [(EMAIL, "Email"), (PUSH, "Push"), (UNKNOWN, "Unknown")]


CHANNEL_BY_QUEUE = {EMAIL_QUEUE: Channel.EMAIL, PUSH_QUEUE: Channel.PUSH}
QUEUE_BY_CHANNEL = {channel: queue for queue, channel in CHANNEL_BY_QUEUE.items()}

# Headers the consumer base writes when it dead-letters (notification_common.rabbitmq.consumer).
H_FAILURE_REASON = "x-failure-reason"
H_FAILURE_KIND = "x-failure-kind"
H_ATTEMPT = "x-attempt"
H_HISTORY = "x-history"
H_ORIGINAL_QUEUE = "x-original-queue"
H_FAILED_AT = "x-failed-at"
H_REQUEST_ID = "x-request-id"
# Added on replay so workers and logs can tell a replay from a first delivery.
H_REPLAY_OF = "x-replay-of"
H_REPLAY_COUNT = "x-replay-count"
