"""The key under which services cache a user as the user service describes it.

The gateway caches users briefly to keep the user service off its hot path; the user
service drops the entry whenever something the gateway decides on changes (preferences,
devices, active flag), so a change counts at once instead of after the cache's TTL.
Both sides use the shared Redis (``REDIS_URL``), like the API key verdicts.
"""

import logging

from django.db import transaction

from notification_common.redis_client import get_redis

logger = logging.getLogger(__name__)

_KEY = "user-snapshot:v1:{user_id}"


def user_snapshot_key(user_id) -> str:
    return _KEY.format(user_id=user_id)


def user_snapshot_forget(*user_ids) -> None:
    """Drop the cached copies after the current transaction commits (at once outside one)."""
    keys = [user_snapshot_key(user_id) for user_id in user_ids if user_id]
    if not keys:
        return

    def forget() -> None:
        try:
            get_redis().delete(*keys)
        except Exception:  # the entries then expire on their own (USER_CACHE_SECONDS)
            logger.warning("could not drop cached user snapshots", extra={"count": len(keys)})

    transaction.on_commit(forget)
