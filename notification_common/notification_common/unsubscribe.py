"""One-click unsubscribe tokens (RFC 8058), shared by the email service (signs) and the user
service (verifies): docs/api.md, "Categories and unsubscribe".

A token is ``django.core.signing`` over (user, category, channel) with ``UNSUBSCRIBE_SECRET``
(not the services' own SECRET_KEYs, which differ) and a salt of its own, so a token cannot be
forged, pointed at another user or category, or replayed as some other signed value. It does
not expire: a link in a mail read months later must still work, and all it can do is turn
one switch off.
"""

from dataclasses import dataclass

from django.core import signing

from notification_common.conf import common_settings
from notification_common.env import env_str, env_url

SALT = "notification_common.unsubscribe.v1"
# Public (in this repository): refused in production by checks.py (notification.E010).
DEV_UNSUBSCRIBE_SECRET = "dev-unsubscribe-secret-change-me"
DEV_PUBLIC_BASE_URL = "http://127.0.0.1:8001"
CHANNELS = ("email", "push")


@dataclass(frozen=True)
class UnsubscribeClaim:
    user_id: str
    category: str
    channel: str


class InvalidUnsubscribeToken(Exception):
    """The token was not signed with UNSUBSCRIBE_SECRET, or does not carry a claim."""


def unsubscribe_common_settings() -> dict:
    """The NOTIFICATION_COMMON entries of the services that sign or verify tokens."""
    return {
        "UNSUBSCRIBE_SECRET": env_str("UNSUBSCRIBE_SECRET", DEV_UNSUBSCRIBE_SECRET),
        "PUBLIC_BASE_URL": env_url("PUBLIC_BASE_URL", DEV_PUBLIC_BASE_URL),
    }


def unsubscribe_token_make(*, user_id: str, category: str, channel: str = "email") -> str:
    return signing.dumps(
        {"u": str(user_id), "c": category, "ch": channel}, key=common_settings.UNSUBSCRIBE_SECRET, salt=SALT
    )


def unsubscribe_token_read(token: str) -> UnsubscribeClaim:
    """The claim a token carries; InvalidUnsubscribeToken when it is malformed or tampered with."""
    if not isinstance(token, str) or not token or len(token) > 1000:
        raise InvalidUnsubscribeToken("malformed")
    try:
        payload = signing.loads(token, key=common_settings.UNSUBSCRIBE_SECRET, salt=SALT)
    except (signing.BadSignature, ValueError, UnicodeDecodeError) as exc:
        raise InvalidUnsubscribeToken("bad signature") from exc
    if not isinstance(payload, dict):
        raise InvalidUnsubscribeToken("malformed")
    user_id, category, channel = payload.get("u"), payload.get("c"), payload.get("ch")
    if not (isinstance(user_id, str) and isinstance(category, str) and channel in CHANNELS):
        raise InvalidUnsubscribeToken("malformed")
    return UnsubscribeClaim(user_id=user_id, category=category, channel=channel)


def unsubscribe_url(*, user_id: str, category: str, channel: str = "email") -> str:
    token = unsubscribe_token_make(user_id=user_id, category=category, channel=channel)
    return f"{common_settings.PUBLIC_BASE_URL.rstrip('/')}/api/v1/unsubscribe/{token}/"
