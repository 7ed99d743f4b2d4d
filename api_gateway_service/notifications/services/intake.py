"""Accepting one notification: idempotency, the sender's and the recipient's rules, quiet
hours and send_at, then the request and its outbox row in one transaction.

Publishing happens after commit (notifications/services/outbox.py), and ``relay_outbox``
publishes whatever that left behind (docs/api_gateway.md). The bulk endpoint reuses these
steps item by item (notifications/services/bulk.py).
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notification_common import ratelimit
from notification_common.exceptions import ApplicationError
from notifications.clients import template_facts_and_user_get, user_get
from notifications.constants import (
    MESSAGE_SCHEMA_VERSION,
    RATE_LIMIT_KEY_PREFIX,
    ROUTING_KEYS,
    TRACE_ID_HEADER,
    GatewayErrorCode,
    NotificationStatus,
)
from notifications.models import NotificationRequest
from notifications.quiet_hours import quiet_hours_end
from notifications.selectors import notification_get_by_idempotency_key
from notifications.senders import Sender
from notifications.services.eligibility import (
    REFUSALS_WORTH_A_FRESH_LOOK,
    notification_recipient,
    notification_sender_authorize,
)
from notifications.services.intake_store import notification_with_outbox_insert
from notifications.services.outbox import outbox_publish

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AcceptedNotification:
    notification: NotificationRequest
    duplicate: bool


# -- rate limits -----------------------------------------------------------------------------


def notification_send_rate_limit_enforce(*, sender: Sender, count: int = 1) -> None:
    """Count ``count`` sends for the sender (each item of a bulk request is one); 429 with
    Retry-After when over its limit."""
    limit = settings.RATE_LIMIT_PER_USER if sender.is_user else settings.RATE_LIMIT_PER_KEY
    try:
        ratelimit.enforce(
            f"{RATE_LIMIT_KEY_PREFIX}:{sender.label}",
            limit=limit,
            window_seconds=settings.RATE_LIMIT_WINDOW_SECONDS,
            message=f"Rate limit of {limit} notifications per {settings.RATE_LIMIT_WINDOW_SECONDS} s reached.",
            cost=count,
        )
    except redis.RedisError:
        # Failing open: refusing every notification because Redis blinked is worse than a
        # short spell without limits. Health reports Redis down meanwhile.
        logger.warning("rate limiter unavailable; request allowed")


# -- accepting ---------------------------------------------------------------------------------


def notification_request_hash(
    *,
    notification_type: str,
    user_id: str,
    template_code: str,
    language: str,
    variables: dict,
    priority: int,
    metadata: dict,
    send_at: datetime | None = None,
    bypass_quiet_hours: bool = False,
) -> str:
    """sha256 of the canonical JSON of what decides the delivery (not the idempotency key).

    ``send_at`` enters only when given (as a UTC instant, so one moment spelled with two
    offsets is one body): the fingerprints of requests without it are the ones stored before.
    """
    fields = {
        "notification_type": notification_type,
        "user_id": str(user_id),
        "template_code": template_code,
        "language": language,
        "variables": variables,
        "priority": priority,
        "metadata": metadata,
    }
    if send_at is not None:
        fields["send_at"] = send_at.astimezone(UTC).isoformat()
    if bypass_quiet_hours:
        fields["bypass_quiet_hours"] = True
    canonical = json.dumps(
        fields,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _duplicate_of(existing: NotificationRequest, request_hash: str) -> AcceptedNotification:
    if existing.request_hash != request_hash:
        raise ApplicationError(
            GatewayErrorCode.IDEMPOTENCY_CONFLICT,
            f"request_id {existing.idempotency_key!r} was already used with a different body.",
            409,
            data={"request_id": existing.idempotency_key, "notification_id": str(existing.id)},
        )
    return AcceptedNotification(notification=existing, duplicate=True)


def notification_accept(
    *,
    sender: Sender,
    notification_type: str,
    user_id,
    template_code: str,
    language: str,
    variables: dict,
    priority: int,
    metadata: dict,
    request_id: str | None,
    trace_id: str,
    send_at: datetime | None = None,
    bypass_quiet_hours: bool = False,
    now: datetime | None = None,
) -> AcceptedNotification:
    """Accept a notification once per (sender, request_id); publish it after commit.

    With ``send_at`` it is scheduled instead: stored the same way, published by the relay
    once due (docs/api.md, "Scheduled sends").
    """
    user_id = str(user_id)
    notification_sender_authorize(
        sender=sender, user_id=user_id, template_code=template_code, bypass_quiet_hours=bypass_quiet_hours
    )
    request_hash = notification_request_hash(
        notification_type=notification_type,
        user_id=user_id,
        template_code=template_code,
        language=language,
        variables=variables,
        priority=priority,
        metadata=metadata,
        send_at=send_at,
        bypass_quiet_hours=bypass_quiet_hours,
    )
    # A replay answers from the stored request, without asking the user service again.
    if request_id:
        existing = notification_get_by_idempotency_key(sender=sender.label, idempotency_key=request_id)
        if existing is not None:
            return _duplicate_of(existing, request_hash)
    # Checked after the duplicate lookup: a client retrying once send_at has passed gets its
    # original answer, not a 400.
    if send_at is not None:
        send_at_validate(send_at=send_at, now=now)

    template, user = template_facts_and_user_get(template_code=template_code, user_id=user_id)
    try:
        recipient = notification_recipient(user=user, notification_type=notification_type, template=template)
    except ApplicationError as refusal:
        if refusal.code not in REFUSALS_WORTH_A_FRESH_LOOK:
            raise
        # The cached copy may predate a device added or a preference turned on a moment ago:
        # refuse only on what the user service says now.
        user = user_get(user_id=user_id, fresh=True)
        recipient = notification_recipient(user=user, notification_type=notification_type, template=template)
    deferred_to = notification_quiet_hours_deferral(
        user=user, priority=priority, send_at=send_at, bypass_quiet_hours=bypass_quiet_hours, now=now
    )
    quiet_hours_deferred = deferred_to is not None
    if quiet_hours_deferred:
        send_at = deferred_to
    notification = _notification_store(
        sender=sender.label,
        idempotency_key=request_id,
        request_hash=request_hash,
        notification_type=notification_type,
        user_id=user_id,
        template_code=template_code,
        language=language,
        variables=variables,
        priority=priority,
        metadata=metadata,
        trace_id=trace_id,
        send_at=send_at,
        quiet_hours_deferred=quiet_hours_deferred,
        recipient=recipient,
        category=template.category,
        category_required=template.category_required,
    )
    if notification is None:
        # A concurrent request with the same key committed first: answer as its duplicate.
        existing = notification_get_by_idempotency_key(sender=sender.label, idempotency_key=request_id)
        if existing is None:  # and deleted again since (an operator in the admin): no answer to give
            raise ApplicationError(
                GatewayErrorCode.IDEMPOTENCY_CONFLICT,
                f"request_id {request_id!r} was used by a request that no longer exists; send it again.",
                409,
                data={"request_id": request_id},
            )
        return _duplicate_of(existing, request_hash)
    return AcceptedNotification(notification=notification, duplicate=False)


def notification_message(
    *, notification: NotificationRequest, recipient: dict, category: str | None = None, category_required: bool = False
) -> dict:
    """The queue message, schema 1 (docs/architecture.md, "Queue message").

    ``category`` and ``category_required`` (the template's, when known) let the email worker
    add List-Unsubscribe to non-required categories without a lookup of its own; both are
    absent for an unknown template.
    """
    message = {
        "schema": MESSAGE_SCHEMA_VERSION,
        "notification_id": str(notification.id),
        "notification_type": notification.notification_type,
        "user_id": str(notification.user_id),
        "template_code": notification.template_code,
        "language": notification.language,
        "variables": notification.variables,
        "priority": notification.priority,
        "metadata": notification.metadata,
        "request_id": notification.idempotency_key,
        "trace_id": notification.trace_id,
        "recipient": recipient,
        "created_at": notification.created_at.isoformat(),
    }
    if category:
        message["category"] = category
        message["category_required"] = category_required
    return message


def notification_quiet_hours_deferral(
    *, user: dict, priority: int, send_at: datetime | None, bypass_quiet_hours: bool, now: datetime | None = None
) -> datetime | None:
    """When a notification going out at ``send_at`` (None: now) falls inside the user's quiet
    hours, their end: it is deferred there, never dropped. None when it may go as asked
    (outside them, urgent, bypassed, or the user has none)."""
    if bypass_quiet_hours or priority >= settings.QUIET_HOURS_URGENT_PRIORITY:
        return None
    preferences = user.get("preferences") or {}
    return quiet_hours_end(
        moment=send_at or now or timezone.now(),
        timezone_name=preferences.get("timezone"),
        quiet_hours=preferences.get("quiet_hours"),
    )


def send_at_validate(*, send_at: datetime, now: datetime | None = None) -> None:
    """400 validation_error naming send_at unless it lies in the future, within the horizon."""
    now = now or timezone.now()
    max_ahead = timedelta(days=settings.NOTIFICATION_SEND_AT_MAX_DAYS)
    problem = None
    if send_at <= now:
        problem = f"Must be in the future (now is {now.astimezone(UTC).isoformat()})."
    elif send_at > now + max_ahead:
        problem = f"Must be at most {settings.NOTIFICATION_SEND_AT_MAX_DAYS} days ahead."
    if problem:
        raise ApplicationError(GatewayErrorCode.VALIDATION_ERROR, "Invalid input.", 400, data={"send_at": [problem]})


def _notification_store(
    *,
    recipient: dict,
    send_at: datetime | None = None,
    category: str | None = None,
    category_required: bool = False,
    **fields,
) -> NotificationRequest | None:
    """Store the request and its outbox row together (one statement) and publish the row once
    committed; None when the sender's idempotency key was taken meanwhile."""
    if send_at is not None:
        fields["status"] = NotificationStatus.SCHEDULED
    stored = notification_with_outbox_insert(
        notification_fields={"send_at": send_at, **fields},
        outbox_fields={
            "routing_key": ROUTING_KEYS[fields["notification_type"]],
            "headers": {TRACE_ID_HEADER: fields["trace_id"]},
            "priority": fields["priority"],
            "due_at": send_at,
        },
        message_of=lambda notification: notification_message(
            notification=notification, recipient=recipient, category=category, category_required=category_required
        ),
    )
    if stored is None:
        return None
    notification, outbox, body = stored
    if send_at is not None:
        return notification  # the relay publishes it when due, never the request
    # robust: the request is committed whatever publishing does; the relay is the fallback.
    # Outside an atomic block (a request) it runs at once: the statement has committed.
    # A lambda, not functools.partial: robust on_commit logs a failed callback by __qualname__,
    # which a partial lacks, and that AttributeError turned a committed request into a 5xx.
    transaction.on_commit(lambda: outbox_publish(outbox=outbox, body=body), robust=True)
    return notification
