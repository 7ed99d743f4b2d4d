"""What one push carries, checked against FCM's rules before anything is sent.

A payload that fails here is refused as permanent (``invalid_payload`` /
``payload_too_large``): retrying cannot fix it. Because every payload we send passed these
checks, an INVALID_ARGUMENT answer from FCM is blamed on the device token.
"""

import json
from dataclasses import dataclass

from pushes.constants import ERROR_INVALID_PAYLOAD, ERROR_PAYLOAD_TOO_LARGE, MAX_PAYLOAD_BYTES

# FCM refuses these data keys (https://firebase.google.com/docs/cloud-messaging/concept-options).
_RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type"})
_RESERVED_DATA_PREFIXES = ("google.", "gcm.")


class PayloadError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PushPayload:
    title: str
    body: str
    image_url: str
    data: dict[str, str]

    def fcm_json(self) -> dict:
        """The message as FCM v1 receives it, without its target (what the 4 KB limit counts)."""
        notification = {"title": self.title, "body": self.body}
        if self.image_url:
            notification["image"] = self.image_url
        message = {"notification": notification}
        if self.data:
            message["data"] = self.data
        return message

    @property
    def size_bytes(self) -> int:
        return len(json.dumps(self.fcm_json(), separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _required_text(value, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(ERROR_INVALID_PAYLOAD, f"{name} is required (a non-empty string)")
    return value


def _data(value, notification_id: str) -> dict[str, str]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise PayloadError(ERROR_INVALID_PAYLOAD, "data must be an object of string values")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise PayloadError(ERROR_INVALID_PAYLOAD, "data keys must be non-empty strings")
        if key in _RESERVED_DATA_KEYS or key.startswith(_RESERVED_DATA_PREFIXES):
            raise PayloadError(ERROR_INVALID_PAYLOAD, f"data key {key!r} is reserved by FCM")
        if not isinstance(item, str):
            raise PayloadError(ERROR_INVALID_PAYLOAD, f"data[{key!r}] must be a string, got {type(item).__name__}")
    # The app can tell pushes apart (and drop a duplicate) by the notification id.
    return {**value, "notification_id": notification_id}


def build_payload(*, notification_id: str, title, body, image_url=None, data=None) -> PushPayload:
    """Check a rendered push; raise PayloadError naming the first problem."""
    if image_url is not None and not isinstance(image_url, str):
        raise PayloadError(ERROR_INVALID_PAYLOAD, "image_url must be a string")
    payload = PushPayload(
        title=_required_text(title, "title"),
        body=_required_text(body, "body"),
        image_url=image_url or "",
        data=_data(data, notification_id),
    )
    size = payload.size_bytes
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadError(ERROR_PAYLOAD_TOO_LARGE, f"payload is {size} bytes; FCM accepts at most {MAX_PAYLOAD_BYTES}")
    return payload
