"""Names the user service shares between models, services and APIs: one place for each."""

from notification_common.status_reports import STATUS_DELIVERED, STATUS_FAILED, STATUS_PENDING


class UserErrorCode:
    """Error codes of this service (the shared ones are in notification_common.exceptions.ErrorCode)."""

    EMAIL_TAKEN = "email_taken"
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_PASSWORD = "invalid_password"
    ACCOUNT_INACTIVE = "account_inactive"
    INVALID_TOKEN = "invalid_token"
    CHANNEL_MISMATCH = "channel_mismatch"


# Sender-managed users (users/managed.py): at most this many users in one import call and
# devices in one user's list; external ids are what senders' systems use as keys.
MANAGED_USERS_IMPORT_MAX = 1000
MANAGED_USER_MAX_DEVICES = 50
EXTERNAL_ID_MAX_LENGTH = 255
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9._:@+=|~-]+$"


class Channel:
    EMAIL = "email"
    PUSH = "push"

    ALL = (EMAIL, PUSH)
    CHOICES = [(EMAIL, "Email"), (PUSH, "Push")]


class DeliveryStatus:
    PENDING = STATUS_PENDING
    DELIVERED = STATUS_DELIVERED
    FAILED = STATUS_FAILED

    ALL = (PENDING, DELIVERED, FAILED)
    FINAL = (DELIVERED, FAILED)
    CHOICES = [(PENDING, "Pending"), (DELIVERED, "Delivered"), (FAILED, "Failed")]


class Platform:
    ANDROID = "android"
    IOS = "ios"
    WEB = "web"

    DEFAULT = ANDROID
    CHOICES = [(ANDROID, "Android"), (IOS, "iOS"), (WEB, "Web")]


class StatusOutcome:
    """What one status report did to the notification log (answered per report)."""

    CREATED = "created"  # first report: the log row was created
    UPDATED = "updated"  # the report's status became the current one
    RECORDED = "recorded"  # kept in the history only (a late pending, an older final)
    DUPLICATE = "duplicate"  # an exact repeat: nothing changed
    REJECTED = "rejected"  # invalid report


class DeviceDeactivationReason:
    REMOVED_BY_USER = "removed_by_user"
    CLAIMED_BY_OTHER_USER = "claimed_by_other_user"
    REMOVED_BY_SENDER = "removed_by_sender"  # left out of a sender's PUT/import device list
