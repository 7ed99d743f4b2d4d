"""The push queue message (docs/architecture.md, "Queue message", schema 1) as a typed value.

Anything that does not match the contract raises ``MalformedMessage``: it goes to
``failed.queue`` at once and never loops.
"""

import uuid
from dataclasses import dataclass, field

from notification_common.rabbitmq import MalformedMessage
from pushes.constants import MAX_TOKEN_LENGTH, QUEUE_MESSAGE_SCHEMA


@dataclass(frozen=True)
class PushRequest:
    notification_id: uuid.UUID
    user_id: uuid.UUID
    template_code: str
    language: str
    variables: dict
    tokens: tuple[str, ...]
    metadata: dict = field(default_factory=dict)
    trace_id: str = ""
    # Delivery context from the broker: which attempt this is and whether it is the last.
    attempt: int = 1
    final_attempt: bool = False


def _uuid(body: dict, name: str) -> uuid.UUID:
    value = body.get(name)
    if not isinstance(value, str):
        raise MalformedMessage(f"{name} is required (a UUID string)")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise MalformedMessage(f"{name} is not a UUID: {value[:64]!r}") from None


def _tokens(recipient: dict) -> tuple[str, ...]:
    raw = recipient.get("push_tokens")
    if not isinstance(raw, list) or not raw:
        raise MalformedMessage("recipient.push_tokens must be a non-empty list")
    tokens: list[str] = []
    for index, token in enumerate(raw):
        if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN_LENGTH:
            raise MalformedMessage(
                f"recipient.push_tokens[{index}] must be a non-empty string of at most {MAX_TOKEN_LENGTH} characters"
            )
        if token not in tokens:
            tokens.append(token)
    return tuple(tokens)


def parse_push_message(body: dict, *, attempt: int = 1, final_attempt: bool = False) -> PushRequest:
    if body.get("schema") != QUEUE_MESSAGE_SCHEMA:
        raise MalformedMessage(f"unsupported schema {body.get('schema')!r}; expected {QUEUE_MESSAGE_SCHEMA}")
    if body.get("notification_type", "push") != "push":
        raise MalformedMessage(f"notification_type is {body.get('notification_type')!r}, expected 'push'")
    template_code = body.get("template_code")
    if not isinstance(template_code, str) or not template_code.strip():
        raise MalformedMessage("template_code is required")
    language = body.get("language") or ""
    if not isinstance(language, str):
        raise MalformedMessage("language must be a string")
    variables = body.get("variables", {})
    if not isinstance(variables, dict):
        raise MalformedMessage("variables must be an object")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise MalformedMessage("metadata must be an object")
    recipient = body.get("recipient")
    if not isinstance(recipient, dict):
        raise MalformedMessage("recipient is required (an object with push_tokens)")
    trace_id = body.get("trace_id") or ""
    return PushRequest(
        notification_id=_uuid(body, "notification_id"),
        user_id=_uuid(body, "user_id"),
        template_code=template_code,
        language=language[:16],
        variables=variables,
        tokens=_tokens(recipient),
        metadata=metadata,
        trace_id=trace_id[:128] if isinstance(trace_id, str) else "",
        attempt=attempt,
        final_attempt=final_attempt,
    )
