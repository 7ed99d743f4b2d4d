"""Calls from the gateway to the user and template services (contracts in docs/architecture.md).

Users are cached in Redis for ``USER_CACHE_SECONDS``: a burst of sends to one user costs
one call. Whether a template may be triggered by user tokens is cached for
``TEMPLATE_CACHE_SECONDS``: every send needs its category, user-token sends whether they
may trigger it (one cached "template facts" lookup). A failing cache only makes the call
slower, never the request fail.
"""

import json
import logging
import random
from dataclasses import asdict, dataclass
from urllib.parse import quote

import redis
from django.conf import settings

from notification_common.exceptions import ApplicationError, DependencyUnavailable
from notification_common.http_client import envelope_data
from notification_common.redis_client import get_redis
from notification_common.service_clients import template_client, user_client
from notification_common.user_snapshots import user_snapshot_key
from notifications.constants import GatewayErrorCode

logger = logging.getLogger(__name__)

USER_SERVICE = "user_service"


def _unexpected(response, what: str) -> DependencyUnavailable:
    # A 401/403 here means this service's own key is wrong: the client cannot fix it.
    logger.error("user service answered %s to %s", response.status_code, what, extra={"status": response.status_code})
    return DependencyUnavailable(USER_SERVICE, f"user_service answered {response.status_code}; try again later.")


def user_get(*, user_id: str, fresh: bool = False) -> dict:
    """The user as the user service describes it (`GET /api/v1/users/{id}/`), cached briefly.

    ``fresh=True`` skips the cache (and refreshes it): used before refusing a request
    because of what a cached copy says.
    """
    # The process's one Redis client rather than Django's cache, which builds a client per call.
    cached = None
    try:
        if not fresh:
            cached = get_redis().get(user_snapshot_key(user_id))
    except redis.RedisError:
        logger.warning("user cache unavailable; asking the user service")
    if cached is not None:
        return json.loads(cached)
    return _user_fetch(user_id)


def _user_fetch(user_id: str) -> dict:
    """Ask the user service for the user and cache the answer."""
    response = user_client().get(f"/api/v1/users/{user_id}/")
    if response.status_code == 404:
        # Not cached: a user registered a moment later must be found at once.
        raise ApplicationError(GatewayErrorCode.USER_NOT_FOUND, f"User {user_id} does not exist.", 404)
    user = envelope_data(response) if response.status_code == 200 else None
    if not isinstance(user, dict):
        raise _unexpected(response, "a user lookup")
    try:
        # Jittered, so users cached in one burst do not all expire (and are fetched) in one burst.
        ttl = max(1, round(settings.USER_CACHE_SECONDS * random.uniform(0.75, 1.0)))
        get_redis().set(user_snapshot_key(user_id), json.dumps(user), ex=ttl)
    except redis.RedisError:
        logger.warning("user cache unavailable; user not cached")
    return user


def template_facts_and_user_get(*, template_code: str, user_id: str) -> tuple["TemplateFacts", dict]:
    """``template_facts_get`` and ``user_get`` together: every send needs both, and both are
    nearly always cached, so one Redis round trip reads the two; what is missing is fetched
    (and cached) as those functions do, the template first."""
    try:
        cached_template, cached_user = get_redis().mget(
            [_TEMPLATE_KEY.format(code=template_code), user_snapshot_key(user_id)]
        )
    except redis.RedisError:
        logger.warning("user and template cache unavailable; asking the services")
        cached_template = cached_user = None
    if cached_template is not None:
        template = TemplateFacts(**json.loads(cached_template))
    else:
        template = _template_facts_fetch(template_code)
    user = json.loads(cached_user) if cached_user is not None else _user_fetch(user_id)
    return template, user


def users_get_many(*, user_ids: list[str]) -> dict[str, dict | ApplicationError]:
    """Several users at once (bulk intake): the cached ones in one Redis round trip, the rest
    from the user service one by one (and cached). A user the service does not know maps to
    its 404 ApplicationError; an outage of the service raises DependencyUnavailable."""
    found: dict[str, dict | ApplicationError] = {}
    ids = list(dict.fromkeys(user_ids))
    try:
        cached = get_redis().mget([user_snapshot_key(user_id) for user_id in ids]) if ids else []
    except redis.RedisError:
        logger.warning("user cache unavailable; asking the user service")
        cached = [None] * len(ids)
    for user_id, raw in zip(ids, cached, strict=True):
        if raw is not None:
            found[user_id] = json.loads(raw)
            continue
        try:
            found[user_id] = user_get(user_id=user_id)
        except DependencyUnavailable:
            raise
        except ApplicationError as refusal:
            found[user_id] = refusal
    return found


def notification_status_get(*, notification_id: str) -> dict | None:
    """The user service's log entry for a notification, or None when it has none yet."""
    response = user_client().get(f"/api/v1/notifications/{notification_id}/status/")
    if response.status_code == 404:
        return None
    data = envelope_data(response) if response.status_code == 200 else None
    if not isinstance(data, dict):
        raise _unexpected(response, "a status lookup")
    return data


_TEMPLATE_KEY = "gateway:template-facts:v1:{code}"


@dataclass(frozen=True)
class TemplateFacts:
    """What the gateway needs of a template: who may trigger it and its category."""

    exists: bool
    user_triggerable: bool = False
    category: str | None = None  # None: unknown template (the worker dead-letters it)
    category_required: bool = False


def template_facts_get(*, template_code: str) -> TemplateFacts:
    """The facts of ``template_code`` from the template service, cached in Redis for
    ``TEMPLATE_CACHE_SECONDS`` (one lookup serves the user-token check and the category)."""
    key = _TEMPLATE_KEY.format(code=template_code)
    try:
        cached = get_redis().get(key)
    except redis.RedisError:
        cached = None
        logger.warning("template cache unavailable; asking the template service")
    if cached is not None:
        return TemplateFacts(**json.loads(cached))
    return _template_facts_fetch(template_code)


def _template_facts_fetch(template_code: str) -> TemplateFacts:
    """Ask the template service for the template's facts and cache them."""
    key = _TEMPLATE_KEY.format(code=template_code)
    response = template_client().get(f"/api/v1/templates/{quote(template_code, safe='')}/")
    if response.status_code == 404:
        facts = TemplateFacts(exists=False)
    else:
        data = envelope_data(response) if response.status_code == 200 else None
        if not isinstance(data, dict):
            logger.error("template service answered %s to a template lookup", response.status_code)
            raise DependencyUnavailable(
                "template_service", f"template_service answered {response.status_code}; try again later."
            )
        category = data.get("category")
        facts = TemplateFacts(
            exists=True,
            user_triggerable=data.get("user_triggerable") is True,
            category=category if isinstance(category, str) and category else None,
            category_required=data.get("category_required") is True,
        )
    try:
        get_redis().set(key, json.dumps(asdict(facts)), ex=settings.TEMPLATE_CACHE_SECONDS)
    except redis.RedisError:
        logger.warning("template cache unavailable; answer not cached")
    return facts


def template_user_triggerable(*, template_code: str) -> bool:
    """Whether user tokens may trigger ``template_code`` (False for an unknown template)."""
    return template_facts_get(template_code=template_code).user_triggerable
