"""Deactivated users, so their access tokens stop working everywhere within seconds.

Access tokens are verified locally with the user service's public key, so a token issued
before a user was deactivated would otherwise work on every service until it expires. The
user service writes the user's id here when it deactivates them (kept as long as an access
token lives, ``USER_DENYLIST_SECONDS``) and removes it on reactivation; token
authentication refuses a listed user. Each process remembers an answer for
``USER_DENYLIST_CHECK_SECONDS`` (2 s), which bounds both the delay and the Redis calls.
While Redis is unreachable the check is skipped (logged): tokens still expire on their own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from django.db import transaction

from notification_common.conf import common_settings
from notification_common.redis_client import get_redis

__all__ = ["user_denied", "user_denylist_add", "user_denylist_remove"]

logger = logging.getLogger(__name__)

_KEY = "user-denied:v1:{user_id}"
_MAX_REMEMBERED = 10_000
_lock = threading.Lock()
_remembered: OrderedDict[str, tuple[float, bool]] = OrderedDict()


def _key(user_id) -> str:
    return _KEY.format(user_id=user_id)


def _after_commit(action) -> None:
    def run() -> None:
        try:
            action(get_redis())
        except Exception:
            logger.error("could not update the deactivated-user list in Redis; tokens expire on their own")

    transaction.on_commit(run)


def user_denylist_add(user_id) -> None:
    """List a deactivated user (after the current transaction commits)."""
    _after_commit(lambda redis: redis.set(_key(user_id), "1", ex=common_settings.USER_DENYLIST_SECONDS))


def user_denylist_remove(user_id) -> None:
    """Take a reactivated user off the list (after the current transaction commits)."""
    _after_commit(lambda redis: redis.delete(_key(user_id)))


def user_denied(user_id, *, clock=time.monotonic) -> bool:
    """Whether tokens of this user must be refused."""
    user_id = str(user_id)
    now = clock()
    with _lock:
        remembered = _remembered.get(user_id)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    try:
        denied = bool(get_redis().exists(_key(user_id)))
    except Exception:
        logger.warning("deactivated-user check skipped: Redis unreachable")
        return False
    with _lock:
        _remembered[user_id] = (now + common_settings.USER_DENYLIST_CHECK_SECONDS, denied)
        _remembered.move_to_end(user_id)
        while len(_remembered) > _MAX_REMEMBERED:
            _remembered.popitem(last=False)
    return denied


def forget_remembered() -> None:
    """Drop this process's remembered answers (tests)."""
    with _lock:
        _remembered.clear()
