"""The queue message contract (docs/architecture.md, "Queue message", schema 1), email side.

A message that breaks the contract raises ``MalformedMessage``: it goes to failed.queue at
once and never loops.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from emails.constants import MESSAGE_SCHEMA, FailureReason, reason
from notification_common.rabbitmq import MalformedMessage

MAX_TEMPLATE_CODE_LENGTH = 100
MAX_LANGUAGE_LENGTH = 35


@dataclass(frozen=True)
class EmailRequest:
    """What one queue message asks for, validated."""

    notification_id: str
    recipient_email: str
    template_code: str
    variables: dict
    language: str
    recipient_name: str = ""
    user_id: str | None = None
    trace_id: str | None = None
    metadata: dict = field(default_factory=dict)
    queue_attempt: int = 1
    # The consumer's last try: a transient failure now ends in failed.queue.
    final_attempt: bool = False
    # The template's category (from the gateway); a non-required one gets List-Unsubscribe.
    category: str | None = None
    category_required: bool = True


_CATEGORY_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,48}[a-z0-9])?$")


def _invalid(detail: str) -> MalformedMessage:
    return MalformedMessage(reason(FailureReason.INVALID_MESSAGE, detail))


def _uuid(value, name: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a UUID string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _invalid(f"{name} must be a UUID string, got {value[:64]!r}") from None


def notification_id_of(body: dict, message_id: str | None = None) -> str | None:
    """The notification id of a message, even a malformed one (to mark and report it), or None."""
    for candidate in (body.get("notification_id") if isinstance(body, dict) else None, message_id):
        if isinstance(candidate, str):
            try:
                return str(uuid.UUID(candidate))
            except ValueError:
                continue
    return None


def parse_email_request(
    body: dict,
    *,
    default_language: str = "en",
    trace_id: str | None = None,
    queue_attempt: int = 1,
    final_attempt: bool = False,
) -> EmailRequest:
    """Validate a schema 1 email message; raise MalformedMessage naming the first bad field."""
    schema = body.get("schema")
    if schema != MESSAGE_SCHEMA or isinstance(schema, bool):
        raise _invalid(f"schema must be {MESSAGE_SCHEMA}, got {schema!r}")
    notification_id = _uuid(body.get("notification_id"), "notification_id")
    notification_type = body.get("notification_type", "email")
    if notification_type != "email":
        raise _invalid(f"notification_type must be 'email' on this queue, got {notification_type!r}")

    recipient = body.get("recipient")
    if not isinstance(recipient, dict):
        raise _invalid("recipient must be an object with an email")
    email = recipient.get("email")
    if not isinstance(email, str) or not email.strip():
        raise _invalid("recipient.email is required")
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise _invalid(f"recipient.email is not a valid address: {email[:254]!r}") from None
    name = recipient.get("name") or ""
    if not isinstance(name, str):
        raise _invalid("recipient.name must be a string")

    template_code = body.get("template_code")
    if not isinstance(template_code, str) or not template_code.strip():
        raise _invalid("template_code is required")
    if len(template_code) > MAX_TEMPLATE_CODE_LENGTH:
        raise _invalid(f"template_code is longer than {MAX_TEMPLATE_CODE_LENGTH} characters")

    variables = body.get("variables")
    if not isinstance(variables, dict):
        raise _invalid("variables must be an object")

    language = body.get("language") or default_language
    if not isinstance(language, str) or len(language) > MAX_LANGUAGE_LENGTH:
        raise _invalid("language must be a language tag such as 'en' or 'pt-BR'")

    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _invalid("metadata must be an object")

    category = body.get("category")
    if category is not None and (not isinstance(category, str) or not _CATEGORY_RE.match(category)):
        raise _invalid("category must be a category slug such as 'marketing'")
    # Absent (older messages): treated as required, so no unsubscribe link is promised.
    category_required = body.get("category_required", True)
    if not isinstance(category_required, bool):
        raise _invalid("category_required must be true or false")

    body_trace = body.get("trace_id")
    return EmailRequest(
        notification_id=notification_id,
        recipient_email=email,
        recipient_name=name.strip()[:200],
        template_code=template_code.strip(),
        variables=variables,
        language=language,
        user_id=_uuid(body.get("user_id"), "user_id", required=False),
        trace_id=trace_id or (body_trace if isinstance(body_trace, str) and body_trace else None),
        metadata=metadata,
        queue_attempt=queue_attempt,
        final_attempt=final_attempt,
        category=category,
        category_required=category_required,
    )
