"""``external_id`` in place of ``user_id``: a sender names its user by its own id, which the
user service resolves within that sender's key (docs/user_service.md, "Sender-managed users").

The mapping never changes once made, so it is cached like users (``USER_CACHE_SECONDS``);
an unknown id is not cached, so a user upserted a moment later is found at once. The stored
notification keeps the user id.
"""

import logging
import random
from urllib.parse import quote

import redis
from django.conf import settings

from notification_common.exceptions import ApplicationError, ErrorCode
from notification_common.http_client import envelope_data
from notification_common.redis_client import get_redis
from notification_common.service_clients import user_client
from notifications.clients import _unexpected
from notifications.constants import SENDER_KEY_PREFIX, GatewayErrorCode
from notifications.senders import Sender

_CACHE_KEY = "gateway:external-user:v1:{key_id}:{external_id}"


def _refused_for_user_tokens() -> ApplicationError:
    return ApplicationError(
        GatewayErrorCode.PERMISSION_DENIED,
        "external_id names a sender's user and needs an API key; a user token sends with user_id.",
        403,
        data={"external_id": ["Only API keys may name users by external_id."]},
    )


def external_user_id_get(*, key_id: str, external_id: str) -> str:
    """The user id behind ``external_id`` in ``key_id``'s namespace (404 user_not_found)."""
    key = _CACHE_KEY.format(key_id=key_id, external_id=external_id)
    try:
        cached = get_redis().get(key)
    except redis.RedisError:
        cached = None
    if cached is not None:
        return cached.decode() if isinstance(cached, bytes) else cached
    response = user_client().get(
        f"/api/v1/users/by-external-id/{quote(external_id, safe='')}/", params={"key_id": key_id}
    )
    if response.status_code == 400:
        # The user service owns the id's syntax (1 to 255 of A-Z a-z 0-9 . _ : @ + = | ~ -).
        raise ApplicationError(
            ErrorCode.VALIDATION_ERROR,
            "Invalid external_id.",
            data={"external_id": ["Must be 1 to 255 of A-Z a-z 0-9 . _ : @ + = | ~ -"]},
        )
    if response.status_code == 404:
        raise ApplicationError(
            GatewayErrorCode.USER_NOT_FOUND,
            f"No user with external_id {external_id!r} for this sender.",
            404,
            data={"external_id": ["Unknown for this sender: create it with PUT /api/v1/users/by-external-id/."]},
        )
    user = envelope_data(response) if response.status_code == 200 else None
    if not isinstance(user, dict) or "id" not in user:
        raise _unexpected(response, "an external id lookup")
    try:
        ttl = max(1, round(settings.USER_CACHE_SECONDS * random.uniform(0.75, 1.0)))
        get_redis().set(key, user["id"], ex=ttl)
    except redis.RedisError:
        logging.getLogger(__name__).warning("user cache unavailable; external id not cached")
    return user["id"]


def recipient_user_id(*, sender: Sender, user_id, external_id: str | None) -> str:
    """The user id a request names, directly or through the sender's external id."""
    if external_id is None:
        return str(user_id)
    if sender.is_user:
        raise _refused_for_user_tokens()
    return external_user_id_get(key_id=sender.label.removeprefix(SENDER_KEY_PREFIX), external_id=external_id)
