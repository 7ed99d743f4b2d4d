"""Writes of the gateway: accept a notification (idempotently) into the outbox, publish it.

Accepting stores the request and its outbox row in one transaction; publishing happens after
commit, and ``relay_outbox`` publishes whatever that left behind (docs/api_gateway.md).
"""

import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from notification_common import ratelimit
from notification_common.conf import common_settings
from notification_common.exceptions import ApplicationError, DependencyUnavailable, NotFound
from notification_common.rabbitmq import PublishError, PublishRejected, get_publisher
from notifications.clients import TemplateFacts, notification_status_get, template_facts_get, user_get
from notifications.constants import (
    MESSAGE_SCHEMA_VERSION,
    RATE_LIMIT_KEY_PREFIX,
    ROUTING_KEYS,
    TRACE_ID_HEADER,
    GatewayErrorCode,
    NotificationStatus,
    NotificationType,
    OutboxErrorCode,
    StatusSource,
)
from notifications.metrics import OUTBOX_PARKED, OUTBOX_REFUSED
from notifications.models import NotificationRequest, OutboxMessage
from notifications.quiet_hours import quiet_hours_end
from notifications.selectors import notification_get_by_idempotency_key, notification_get_for_sender
from notifications.senders import Sender

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AcceptedNotification:
    notification: NotificationRequest
    duplicate: bool


@dataclass(frozen=True)
class NotificationLiveStatus:
    status: str
    source: str
    log: dict | None  # the user service's log entry, when it has one


@dataclass(frozen=True)
class RelayResult:
    published: int
    taken: int = 0  # rows due that this batch looked at (published, refused or not reached)
    refused: int = 0  # rows the broker refused (each counted against its own row)
    parked: int = 0  # of those, rows that reached OUTBOX_MAX_PUBLISH_ATTEMPTS and were set aside
    error: str | None = None  # a broker outage: the batch stopped there


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


def notification_recipient(*, user: dict, notification_type: str, template: TemplateFacts | None = None) -> dict:
    """The recipient snapshot the worker delivers to; refuses users who cannot receive it.

    With ``template``, the user's switch for its category counts too, unless the category is
    required (security notices reach everyone).
    """
    user_id = user.get("id")
    if not user.get("is_active", False):
        raise ApplicationError(GatewayErrorCode.USER_INACTIVE, f"User {user_id} is inactive.", 422)
    preferences = user.get("preferences") or {}
    if preferences.get(notification_type) is not True:
        raise ApplicationError(
            GatewayErrorCode.PREFERENCE_DISABLED,
            f"User {user_id} has turned {notification_type} notifications off.",
            422,
            data={"notification_type": notification_type},
        )
    category = template.category if template is not None else None
    if category and not template.category_required:
        switches = (preferences.get("categories") or {}).get(category) or {}
        if switches.get(notification_type) is False:
            raise ApplicationError(
                GatewayErrorCode.PREFERENCE_DISABLED,
                f"User {user_id} has turned {category} {notification_type} notifications off.",
                422,
                data={"notification_type": notification_type, "category": category},
            )
    name = user.get("name") or ""
    if notification_type == NotificationType.EMAIL:
        return {"email": user.get("email") or "", "name": name}
    tokens = []
    for device in user.get("devices") or []:
        token = device.get("token")
        if device.get("active", True) and token and token not in tokens:
            tokens.append(token)
    if not tokens:
        raise ApplicationError(GatewayErrorCode.NO_ACTIVE_DEVICE, f"User {user_id} has no active push device.", 422)
    return {"push_tokens": tokens, "name": name}


_REFUSALS_WORTH_A_FRESH_LOOK = frozenset(
    {GatewayErrorCode.USER_INACTIVE, GatewayErrorCode.PREFERENCE_DISABLED, GatewayErrorCode.NO_ACTIVE_DEVICE}
)


def notification_sender_authorize(
    *,
    sender: Sender,
    user_id: str,
    template_code: str,
    bypass_quiet_hours: bool = False,
    triggerable: dict[str, bool] | None = None,
) -> None:
    """Who may send what (single and bulk intake): an API key with ``notifications:send`` any
    template to anyone; a user token only to its own user and only ``user_triggerable``
    templates. ``triggerable`` caches the template answers within one request."""
    quiet_hours_bypass_authorize(sender=sender, bypass_quiet_hours=bypass_quiet_hours, template_code=template_code)
    if not sender.is_user:
        return
    if sender.user_id != str(user_id):
        raise ApplicationError(
            GatewayErrorCode.PERMISSION_DENIED,
            "A user token may only send notifications to its own user.",
            403,
            data={"user_id": ["Must be the id of the token's user."]},
        )
    cache = {} if triggerable is None else triggerable
    if template_code not in cache:
        cache[template_code] = template_facts_get(template_code=template_code).user_triggerable
    if not cache[template_code]:
        # Open registration must not turn the platform into a relay of our branded emails.
        raise ApplicationError(
            GatewayErrorCode.TEMPLATE_NOT_USER_TRIGGERABLE,
            f"Template '{template_code}' cannot be sent with a user token; send it with an API key.",
            403,
            data={"template_code": ["This template is not user-triggerable."]},
        )


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

    template = template_facts_get(template_code=template_code)
    user = user_get(user_id=user_id)
    try:
        recipient = notification_recipient(user=user, notification_type=notification_type, template=template)
    except ApplicationError as refusal:
        if refusal.code not in _REFUSALS_WORTH_A_FRESH_LOOK:
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
    try:
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
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as its duplicate.
        existing = (
            notification_get_by_idempotency_key(sender=sender.label, idempotency_key=request_id) if request_id else None
        )
        if existing is None:
            raise
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


def quiet_hours_bypass_authorize(*, sender: Sender, bypass_quiet_hours: bool, template_code: str) -> None:
    """403 unless a bypass of quiet hours comes from a sender's API key with a template of a
    ``required`` category (security notices): a marketing email must not wake anyone up."""
    if not bypass_quiet_hours:
        return
    if sender.is_user:
        raise ApplicationError(
            GatewayErrorCode.PERMISSION_DENIED,
            "Only an API key may send past a user's quiet hours.",
            403,
            data={"bypass_quiet_hours": ["Needs an API key with notifications:send."]},
        )
    if not template_facts_get(template_code=template_code).category_required:
        raise ApplicationError(
            GatewayErrorCode.PERMISSION_DENIED,
            "Only a template of a required category (security notices) may send past quiet hours.",
            403,
            data={"bypass_quiet_hours": [f"Template '{template_code}' is not in a required category."]},
        )


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


@transaction.atomic
def _notification_store(
    *,
    recipient: dict,
    send_at: datetime | None = None,
    category: str | None = None,
    category_required: bool = False,
    **fields,
) -> NotificationRequest:
    if send_at is not None:
        fields["status"] = NotificationStatus.SCHEDULED
    notification = NotificationRequest.objects.create(send_at=send_at, **fields)
    outbox = OutboxMessage.objects.create(
        notification=notification,
        routing_key=ROUTING_KEYS[notification.notification_type],
        body=notification_message(
            notification=notification, recipient=recipient, category=category, category_required=category_required
        ),
        headers={TRACE_ID_HEADER: notification.trace_id},
        priority=notification.priority,
        due_at=send_at,
    )
    if send_at is not None:
        return notification  # the relay publishes it when due, never the request
    # robust: the request is committed whatever publishing does; the relay is the fallback.
    # A lambda, not functools.partial: robust on_commit logs a failed callback by __qualname__,
    # which a partial lacks, and that AttributeError turned a committed request into a 5xx.
    transaction.on_commit(lambda: outbox_publish(outbox=outbox), robust=True)
    return notification


# -- publishing --------------------------------------------------------------------------------

# Broker URL -> monotonic time until which requests leave publishing to the relay.
_publish_paused_until: dict[str, float] = {}
_pause_lock = threading.Lock()


def _publish(publisher, outbox: OutboxMessage) -> None:
    publisher.publish(
        outbox.routing_key,
        outbox.body,
        headers=outbox.headers,
        message_id=outbox.message_id,
        priority=outbox.priority,
    )


def outbox_publish(*, outbox: OutboxMessage) -> bool:
    """Publish one committed outbox row and mark it; on failure leave it to the relay."""
    url = common_settings.RABBITMQ_URL
    if time.monotonic() < _publish_paused_until.get(url, 0.0):
        return False
    try:
        _publish(get_publisher(url), outbox)
    except PublishRejected as exc:
        # This message's fault, not the broker's: count it against the row, not other requests.
        logger.warning(
            "the broker refused a message; the outbox relay will retry it",
            extra={"notification_id": outbox.message_id, "error": str(exc)},
        )
        with transaction.atomic():
            OutboxMessage.objects.filter(pk=outbox.pk).update(attempts=F("attempts") + 1)
            outbox_publish_refusal_record(outbox_id=outbox.pk, error=str(exc))
        return False
    except PublishError as exc:
        with _pause_lock:
            _publish_paused_until[url] = time.monotonic() + settings.OUTBOX_PUBLISH_BACKOFF_SECONDS
        logger.warning(
            "publish failed; the outbox relay will retry",
            extra={"notification_id": outbox.message_id, "error": str(exc)},
        )
        OutboxMessage.objects.filter(pk=outbox.pk).update(attempts=F("attempts") + 1, last_error=str(exc)[:1000])
        return False
    _outbox_mark_published(outbox_id=outbox.pk)
    outbox.published_at = timezone.now()
    return True


def _outbox_mark_published(*, outbox_id: int) -> None:
    # The mark is advisory: if a crash loses it, the relay publishes the row again and the
    # workers' idempotency absorbs the duplicate. So this one statement (its own transaction)
    # turns off the wait for the WAL flush, sparing every accepted request a second fsync.
    # Conditional: the relay may have published and marked the row meanwhile.
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)) "
            f"UPDATE {OutboxMessage._meta.db_table} SET published_at = now(), attempts = attempts + 1, "
            "last_error = '' WHERE id = %s AND published_at IS NULL AND EXISTS (SELECT FROM relaxed)",
            [outbox_id],
        )


def outbox_retry_delay(*, failed_attempts: int) -> float:
    """Seconds the relay leaves a row alone after its ``failed_attempts``-th refusal."""
    base = settings.OUTBOX_RETRY_BASE_SECONDS
    return min(base * 2 ** max(0, failed_attempts - 1), settings.OUTBOX_RETRY_MAX_SECONDS)


def outbox_publish_refusal_record(*, outbox_id: int, error: str, now=None) -> OutboxMessage | None:
    """Count one refusal by the broker against the row: back off, or park it at the limit.

    Returns the row as stored, or None when it is gone or no longer pending (published or
    parked by someone else meanwhile).
    """
    now = now or timezone.now()
    with transaction.atomic():
        row = (
            OutboxMessage.objects.select_for_update()
            .filter(pk=outbox_id, published_at__isnull=True, parked_at__isnull=True)
            .first()
        )
        if row is None:
            return None
        row.failed_attempts += 1
        row.last_error = error[:1000]
        if row.failed_attempts >= settings.OUTBOX_MAX_PUBLISH_ATTEMPTS:
            row.parked_at = now
            row.next_attempt_at = None
        else:
            row.next_attempt_at = now + timedelta(seconds=outbox_retry_delay(failed_attempts=row.failed_attempts))
        row.save(update_fields=["failed_attempts", "last_error", "parked_at", "next_attempt_at"])
    OUTBOX_REFUSED.inc()
    if row.parked_at:
        OUTBOX_PARKED.inc()
        logger.error(
            "outbox row parked after %d refusals; replay it once the cause is fixed",
            row.failed_attempts,
            extra={"notification_id": row.message_id, "routing_key": row.routing_key, "error": row.last_error},
        )
    return row


def outbox_relay_batch(*, batch_size: int, grace_seconds: float, now=None) -> RelayResult:
    """Publish up to ``batch_size`` due rows, oldest first.

    A row the broker refuses is counted against that row alone (backoff, then parked) and the
    rows behind it go on; a broker outage stops the batch and counts against no row.
    Rows stay locked (FOR UPDATE SKIP LOCKED) while they are published, so several relays
    never publish the same row; a crash between publish and commit publishes it again,
    which the workers' idempotency absorbs.
    """
    url = common_settings.RABBITMQ_URL
    publisher = get_publisher(url)
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=grace_seconds)
    published: list[int] = []
    tried: list[int] = []
    refused = parked = 0
    error = None
    with transaction.atomic():
        # Scheduled rows that are due first (the due index; no grace: no after-commit publish
        # races them), then the rows the after-commit publish left behind (oldest first).
        not_backing_off = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        due = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(
                published_at__isnull=True,
                parked_at__isnull=True,
                cancelled_at__isnull=True,
                due_at__isnull=False,
                due_at__lte=now,
            )
            .filter(not_backing_off)
            .order_by("due_at", "id")[:batch_size]
        )
        rows = due
        if len(due) < batch_size:
            rows = due + list(
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(published_at__isnull=True, parked_at__isnull=True, due_at__isnull=True, created_at__lte=cutoff)
                .filter(not_backing_off)
                .order_by("created_at", "id")[: batch_size - len(due)]
            )
        for row in rows:
            tried.append(row.pk)
            try:
                _publish(publisher, row)
            except PublishRejected as exc:
                refused += 1
                stored = outbox_publish_refusal_record(outbox_id=row.pk, error=str(exc), now=now)
                parked += bool(stored and stored.parked_at)
                continue
            except PublishError as exc:
                # The broker is unreachable: nothing behind this row would fare better, and
                # it is no row's fault, so no refusal is counted.
                error = str(exc)
                OutboxMessage.objects.filter(pk=row.pk).update(last_error=error[:1000])
                break
            published.append(row.pk)
        if tried:
            OutboxMessage.objects.filter(pk__in=tried).update(attempts=F("attempts") + 1)
        if published:
            OutboxMessage.objects.filter(pk__in=published).update(
                published_at=timezone.now(), last_error="", next_attempt_at=None
            )
            published_ids = set(published)
            scheduled_sent = [row.notification_id for row in due if row.pk in published_ids]
            if scheduled_sent:
                # Out of the gateway's hands: the workers' status takes over from here.
                NotificationRequest.objects.filter(pk__in=scheduled_sent, status=NotificationStatus.SCHEDULED).update(
                    status=NotificationStatus.PENDING, updated_at=timezone.now()
                )
    return RelayResult(published=len(published), taken=len(rows), refused=refused, parked=parked, error=error)


def outbox_requeue(*, outbox_ids: list[int]) -> int:
    """Mark published rows unpublished so the relay sends them again; returns how many."""
    return OutboxMessage.objects.filter(pk__in=outbox_ids, published_at__isnull=False).update(
        published_at=None, last_error=""
    )


def outbox_replay(*, notification_id) -> OutboxMessage:
    """Give a parked row back to the relay, once; 404 unknown, 409 not parked or replayed before.

    The refusal count starts over, so a row that is refused again is parked again after
    OUTBOX_MAX_PUBLISH_ATTEMPTS; it cannot be replayed a second time (like dead letters).
    """
    try:
        notification_id = uuid.UUID(str(notification_id))
    except ValueError:
        raise NotFound("Outbox message not found.") from None
    with transaction.atomic():
        row = OutboxMessage.objects.select_for_update().filter(notification_id=notification_id).first()
        if row is None:
            raise NotFound("Outbox message not found.")
        if row.cancelled_at is not None:
            raise ApplicationError(
                OutboxErrorCode.CANCELLED, f"Outbox message {row.message_id} was cancelled by its sender.", 409
            )
        if row.replayed_at is not None:
            raise ApplicationError(
                OutboxErrorCode.ALREADY_REPLAYED,
                f"Outbox message {row.message_id} was already replayed at {row.replayed_at.isoformat()}.",
                409,
            )
        if row.parked_at is None:
            raise ApplicationError(
                OutboxErrorCode.NOT_PARKED, f"Outbox message {row.message_id} is {row.status}, not parked.", 409
            )
        row.parked_at = None
        row.next_attempt_at = None
        row.failed_attempts = 0
        row.replayed_at = timezone.now()
        row.replay_count += 1
        row.save(update_fields=["parked_at", "next_attempt_at", "failed_attempts", "replayed_at", "replay_count"])
    logger.info("parked outbox row replayed", extra={"notification_id": row.message_id})
    return row


# -- cancelling --------------------------------------------------------------------------------


def notification_cancel(*, notification_id, sender: str, now: datetime | None = None) -> NotificationRequest:
    """Cancel the sender's scheduled notification while its outbox row is unpublished.

    The outbox row's lock decides a race with the relay: the relay holds it (FOR UPDATE SKIP
    LOCKED) while it publishes, so a cancel either waits and then sees the row published
    (409 already_published), or takes the lock first and the relay skips the row, then finds
    it cancelled. Cancelling again answers the cancelled notification (idempotent).
    """
    notification = notification_get_for_sender(notification_id=notification_id, sender=sender)
    now = now or timezone.now()
    with transaction.atomic():
        outbox = OutboxMessage.objects.select_for_update().get(notification_id=notification.pk)
        if outbox.cancelled_at is not None:
            return NotificationRequest.objects.get(pk=notification.pk)
        if outbox.published_at is not None:
            raise ApplicationError(
                GatewayErrorCode.ALREADY_PUBLISHED,
                f"Notification {notification.pk} was already handed to the broker; it can no longer be cancelled.",
                409,
                data={"notification_id": str(notification.pk), "published_at": outbox.published_at.isoformat()},
            )
        if outbox.due_at is None:
            # Published after commit without a lock of its own: cancelling it could not
            # promise anything, so only scheduled notifications are cancellable.
            raise ApplicationError(
                GatewayErrorCode.NOT_SCHEDULED,
                f"Notification {notification.pk} was sent without send_at; only scheduled ones can be cancelled.",
                409,
                data={"notification_id": str(notification.pk)},
            )
        outbox.cancelled_at = now
        outbox.save(update_fields=["cancelled_at"])
        NotificationRequest.objects.filter(pk=notification.pk).update(
            status=NotificationStatus.CANCELLED, cancelled_at=now, updated_at=now
        )
    logger.info("scheduled notification cancelled", extra={"notification_id": str(notification.pk)})
    return NotificationRequest.objects.select_related("outbox").get(pk=notification.pk)


# -- status ------------------------------------------------------------------------------------


def notification_status_refresh(*, notification: NotificationRequest) -> NotificationLiveStatus:
    """The live status from the user service's log, remembered on the gateway's record.

    With the user service down the gateway's last known status is answered instead; so it is
    for a notification still scheduled or cancelled, which the workers have never seen.
    """
    if notification.status in (NotificationStatus.SCHEDULED, NotificationStatus.CANCELLED):
        return NotificationLiveStatus(status=notification.status, source=StatusSource.GATEWAY, log=None)
    try:
        log = notification_status_get(notification_id=str(notification.id))
    except DependencyUnavailable:
        return NotificationLiveStatus(status=notification.status, source=StatusSource.GATEWAY, log=None)
    status = (log or {}).get("status") or NotificationStatus.PENDING
    if status in NotificationStatus.values and status != notification.status:
        NotificationRequest.objects.filter(pk=notification.pk).update(status=status, updated_at=timezone.now())
        notification.status = status
    return NotificationLiveStatus(status=status, source=StatusSource.USER_SERVICE, log=log)
