"""Who is sending: a platform user (JWT) or an API key. Idempotency keys, reads and rate
limits are all scoped to the sender."""

import uuid
from dataclasses import dataclass

from notification_common.authentication import caller_user_id, is_api_key
from notifications.constants import SENDER_KEY_PREFIX, SENDER_USER_PREFIX


@dataclass(frozen=True)
class Sender:
    label: str  # "user:<uuid>" or "key:<key id>", as stored in NotificationRequest.sender
    user_id: str | None = None  # set for user tokens only

    @property
    def is_user(self) -> bool:
        return self.user_id is not None


def _canonical(user_id: str) -> str:
    # The token's claim and the body's user_id must compare equal whatever their spelling.
    try:
        return str(uuid.UUID(user_id))
    except ValueError:
        return user_id


def sender_of(principal) -> Sender:
    user_id = caller_user_id(principal)
    if user_id is not None:
        user_id = _canonical(user_id)
        return Sender(label=f"{SENDER_USER_PREFIX}{user_id}", user_id=user_id)
    if is_api_key(principal):
        return Sender(label=f"{SENDER_KEY_PREFIX}{principal.info.key_id}")
    raise ValueError(f"not a sender: {principal!r}")
