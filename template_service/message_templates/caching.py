"""Two caches behind the substitute endpoint (docs/template_service.md, "Caching").

* The active index of a template code (its id, channel, default language and the active
  version number per language) lives in Redis through Django's cache for a bounded time and
  is deleted whenever it changes, so every process sees an activation at once.
* A version's content never changes, so it is cached in Redis without expiry and, compiled,
  in a small per-process LRU keyed by (template id, language, version).

Redis failures only cost speed: reads fall back to the database.
"""

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from redis.exceptions import RedisError

from notification_common.lru import LocalLRU

logger = logging.getLogger(__name__)

ACTIVE_INDEX_KEY = "templates:active:v1:{code}"
VERSION_KEY = "templates:version:v1:{template_id}:{language}:{version}"


def _active_index_key(code: str) -> str:
    return ACTIVE_INDEX_KEY.format(code=code)


def _version_key(template_id, language: str, version: int) -> str:
    return VERSION_KEY.format(template_id=template_id, language=language, version=version)


def active_index_get(code: str) -> dict | None:
    try:
        return cache.get(_active_index_key(code))
    except RedisError:
        logger.warning("template cache unavailable; reading the active index from the database", exc_info=True)
        return None


def active_index_set(code: str, index: dict) -> None:
    try:
        cache.set(_active_index_key(code), index, timeout=settings.TEMPLATE_ACTIVE_CACHE_SECONDS)
    except RedisError:
        logger.warning("template cache unavailable; active index not cached", exc_info=True)


def active_index_forget(code: str) -> None:
    """Drop the index now and again after commit.

    Now, so the writing transaction itself reads fresh; after commit, because a reader that
    loaded the old rows while we were writing may have cached them in between.
    """
    _delete(_active_index_key(code))
    transaction.on_commit(lambda: _delete(_active_index_key(code)))


def _delete(key: str) -> None:
    try:
        cache.delete(key)
    except RedisError:
        # Bounded by TEMPLATE_ACTIVE_CACHE_SECONDS: the stale index expires on its own.
        logger.error("could not invalidate template cache key %s", key, exc_info=True)


def version_get(template_id, language: str, version: int) -> dict | None:
    try:
        return cache.get(_version_key(template_id, language, version))
    except RedisError:
        return None


def version_set(template_id, language: str, version: int, snapshot: dict) -> None:
    try:
        cache.set(_version_key(template_id, language, version), snapshot, timeout=None)
    except RedisError:
        # Only a cache fill: the version is read from the database again next time.
        logger.warning("could not cache template version %s/%s/v%s", template_id, language, version)


compiled_versions = LocalLRU(maxsize=getattr(settings, "TEMPLATE_VERSION_LRU_SIZE", 1024))
