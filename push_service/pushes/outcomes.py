"""What FCM's answer means for one device: sent, deactivate the device, permanent (not worth
retrying) or transient (retried later). Pure: no SDK call, no database; ``classify`` is what
:class:`pushes.transport.PushService` applies to every answer (docs/push_service.md, "FCM")."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime

from firebase_admin import exceptions, messaging

from pushes.constants import (
    FCM_INTERNAL,
    FCM_INVALID_ARGUMENT,
    FCM_QUOTA_EXCEEDED,
    FCM_SENDER_ID_MISMATCH,
    FCM_THIRD_PARTY_AUTH_ERROR,
    FCM_UNAVAILABLE,
    FCM_UNKNOWN,
    FCM_UNREGISTERED,
)

SENT, DEACTIVATE, PERMANENT, TRANSIENT = "sent", "deactivate", "permanent", "transient"


@dataclass(frozen=True)
class TokenOutcome:
    token: str
    kind: str  # SENT | DEACTIVATE | PERMANENT | TRANSIENT
    message_id: str = ""
    error_code: str = ""
    error_message: str = ""
    retry_after: float | None = None


# Subclasses first: QuotaExceededError is a ResourceExhaustedError, UnregisteredError a
# NotFoundError, SenderIdMismatchError a PermissionDeniedError, ThirdPartyAuthError an
# UnauthenticatedError.
_ERROR_CODES: tuple[tuple[type[Exception], str], ...] = (
    (messaging.UnregisteredError, FCM_UNREGISTERED),
    (messaging.SenderIdMismatchError, FCM_SENDER_ID_MISMATCH),
    (messaging.QuotaExceededError, FCM_QUOTA_EXCEEDED),
    (messaging.ThirdPartyAuthError, FCM_THIRD_PARTY_AUTH_ERROR),
    (exceptions.InvalidArgumentError, FCM_INVALID_ARGUMENT),
    (exceptions.UnavailableError, FCM_UNAVAILABLE),
    (exceptions.InternalError, FCM_INTERNAL),
)


def fcm_error_code(error: BaseException) -> str:
    for cls, code in _ERROR_CODES:
        if isinstance(error, cls):
            return code
    code = getattr(error, "code", None)
    return str(code).upper() if code else FCM_UNKNOWN


def retry_after_seconds(error: BaseException) -> float | None:
    """Seconds from the ``Retry-After`` header of the HTTP answer behind an SDK error, if any."""
    response = getattr(error, "http_response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _blames_payload(error: BaseException) -> bool:
    """Whether an INVALID_ARGUMENT answer names the message rather than the device token."""
    text = str(error).lower()
    if "too big" in text or "payload" in text:
        return True
    response = getattr(error, "http_response", None)
    try:
        details = response.json()["error"].get("details", []) if response is not None else []
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    for detail in details if isinstance(details, list) else []:
        for violation in detail.get("fieldViolations", []) if isinstance(detail, dict) else []:
            field = str(violation.get("field", ""))
            if field and field not in ("message.token", "message.fid"):
                return True
    return False


def classify(token: str, response: messaging.SendResponse) -> TokenOutcome:
    """One device's result: sent, deactivate the device, permanent, or transient (retry)."""
    if response.success:
        return TokenOutcome(token, SENT, message_id=response.message_id or "")
    error = response.exception
    code = fcm_error_code(error)
    message = str(error)[:500]
    if code in (FCM_UNREGISTERED, FCM_SENDER_ID_MISMATCH):
        kind = DEACTIVATE
    elif code == FCM_INVALID_ARGUMENT:
        # Every payload passed payloads.build_payload, so FCM is refusing the token, unless
        # its answer says otherwise; then the device is left alone.
        kind = PERMANENT if _blames_payload(error) else DEACTIVATE
    elif code == FCM_THIRD_PARTY_AUTH_ERROR:
        kind = PERMANENT  # our APNs/web-push credentials: retrying this token will not help
    else:
        kind = TRANSIENT
    return TokenOutcome(
        token,
        kind,
        error_code=code,
        error_message=message,
        retry_after=retry_after_seconds(error) if kind == TRANSIENT else None,
    )
