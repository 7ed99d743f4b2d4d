"""Bulk intake: up to ``NOTIFICATION_BULK_MAX_ITEMS`` notifications in one request.

Each item keeps the single endpoint's rules: its own ``request_id`` and idempotency, the
sender's authorization, the user's preferences and devices, ``send_at``. What is shared is
the cost: one query finds the replays, the users come from the cache in one round trip,
every new notification and outbox row is written in one transaction with two bulk inserts,
and the due ones are published after commit in one pass (the relay is the fallback, as for
single requests). The answer lists each item's outcome; nothing is all-or-nothing except a
dependency outage (503: the client sends the same request again, and idempotency makes that
safe).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from notification_common.conf import common_settings
from notification_common.exceptions import ApplicationError
from notification_common.rabbitmq import get_publisher
from notifications.clients import template_facts_get, user_get, users_get_many
from notifications.constants import ROUTING_KEYS, TRACE_ID_HEADER, GatewayErrorCode, NotificationStatus
from notifications.models import NotificationRequest, OutboxMessage
from notifications.senders import Sender
from notifications.services.eligibility import (
    REFUSALS_WORTH_A_FRESH_LOOK,
    notification_recipient,
    notification_sender_authorize,
)
from notifications.services.intake import (
    AcceptedNotification,
    notification_accept,
    notification_message,
    notification_quiet_hours_deferral,
    notification_request_hash,
    send_at_validate,
)
from notifications.services.outbox import outbox_message_item

logger = logging.getLogger(__name__)

ACCEPTED, SCHEDULED, DUPLICATE, REJECTED = "accepted", "scheduled", "duplicate", "rejected"


@dataclass
class BulkItemResult:
    index: int
    outcome: str
    notification: NotificationRequest | None = None
    error: ApplicationError | None = None


@dataclass
class _Candidate:
    index: int
    fields: dict
    request_hash: str
    recipient: dict | None = None
    category: str | None = None  # the template's, carried in the queue message
    category_required: bool = False
    deferred_to: datetime | None = None  # the end of the user's quiet hours, when it falls inside
    results_like: list[int] = field(default_factory=list)  # later items repeating this request_id


def _refused(index: int, error: ApplicationError) -> BulkItemResult:
    return BulkItemResult(index=index, outcome=REJECTED, error=error)


def _authorize(sender: Sender, fields: dict, triggerable: dict[str, bool]) -> None:
    """The single endpoint's sender rules, per item (template answers cached per request)."""
    notification_sender_authorize(
        sender=sender,
        user_id=str(fields["user_id"]),
        template_code=fields["template_code"],
        bypass_quiet_hours=fields.get("bypass_quiet_hours", False),
        triggerable=triggerable,
    )


def _hash_of(fields: dict) -> str:
    return notification_request_hash(
        notification_type=fields["notification_type"],
        user_id=str(fields["user_id"]),
        template_code=fields["template_code"],
        language=fields["language"],
        variables=fields["variables"],
        priority=fields["priority"],
        metadata=fields["metadata"],
        send_at=fields.get("send_at"),
        bypass_quiet_hours=fields.get("bypass_quiet_hours", False),
    )


def _conflict(request_id: str, notification_id: str | None) -> ApplicationError:
    return ApplicationError(
        GatewayErrorCode.IDEMPOTENCY_CONFLICT,
        f"request_id {request_id!r} was already used with a different body.",
        409,
        data={"request_id": request_id, "notification_id": notification_id},
    )


def notification_accept_bulk(
    *, sender: Sender, items: list[dict | ApplicationError], trace_id: str, now: datetime | None = None
) -> list[BulkItemResult]:
    """Accept validated items (or carry their validation refusal); one result per item, in order."""
    now = now or timezone.now()
    results: list[BulkItemResult | None] = [None] * len(items)
    triggerable: dict[str, bool] = {}
    candidates: list[_Candidate] = []
    for index, item in enumerate(items):
        if isinstance(item, ApplicationError):
            results[index] = _refused(index, item)
            continue
        try:
            _authorize(sender, item, triggerable)
        except ApplicationError as refusal:
            results[index] = _refused(index, refusal)
            continue
        candidates.append(_Candidate(index=index, fields=item, request_hash=_hash_of(item)))

    # Replays: one query for every request_id, then repeats inside this request.
    keys = [c.fields["request_id"] for c in candidates if c.fields.get("request_id")]
    existing = {
        n.idempotency_key: n for n in NotificationRequest.objects.filter(sender=sender.label, idempotency_key__in=keys)
    }
    first_by_key: dict[str, _Candidate] = {}
    fresh: list[_Candidate] = []
    for candidate in candidates:
        key = candidate.fields.get("request_id")
        if key and key in existing:
            original = existing[key]
            if original.request_hash == candidate.request_hash:
                results[candidate.index] = BulkItemResult(candidate.index, DUPLICATE, notification=original)
            else:
                results[candidate.index] = _refused(candidate.index, _conflict(key, str(original.id)))
            continue
        if key and key in first_by_key:
            first = first_by_key[key]
            if first.request_hash == candidate.request_hash:
                first.results_like.append(candidate.index)
            else:
                results[candidate.index] = _refused(candidate.index, _conflict(key, None))
            continue
        if candidate.fields.get("send_at") is not None:
            try:
                send_at_validate(send_at=candidate.fields["send_at"], now=now)
            except ApplicationError as refusal:
                results[candidate.index] = _refused(candidate.index, refusal)
                continue
        if key:
            first_by_key[key] = candidate
        fresh.append(candidate)

    # Recipients: cached users in one round trip; a refusal is re-checked fresh, as for one.
    users = users_get_many(user_ids=[str(c.fields["user_id"]) for c in fresh])
    ready: list[_Candidate] = []
    for candidate in fresh:
        user_id, kind = str(candidate.fields["user_id"]), candidate.fields["notification_type"]
        try:
            user = users[user_id]
            if isinstance(user, ApplicationError):
                raise user
            # Cached per code in Redis: a bulk of one template costs one lookup at most.
            template = template_facts_get(template_code=candidate.fields["template_code"])
            candidate.category, candidate.category_required = template.category, template.category_required
            try:
                candidate.recipient = notification_recipient(user=user, notification_type=kind, template=template)
            except ApplicationError as refusal:
                if refusal.code not in REFUSALS_WORTH_A_FRESH_LOOK:
                    raise
                candidate.recipient = notification_recipient(
                    user=user_get(user_id=user_id, fresh=True), notification_type=kind, template=template
                )
        except ApplicationError as refusal:
            results[candidate.index] = _refused(candidate.index, refusal)
            for index in candidate.results_like:
                results[index] = _refused(index, refusal)
            continue
        candidate.deferred_to = notification_quiet_hours_deferral(
            user=user,
            priority=candidate.fields["priority"],
            send_at=candidate.fields.get("send_at"),
            bypass_quiet_hours=candidate.fields.get("bypass_quiet_hours", False),
            now=now,
        )
        ready.append(candidate)

    stored = _store(sender=sender, candidates=ready, trace_id=trace_id)
    for candidate, accepted in zip(ready, stored, strict=True):
        notification = accepted.notification
        if accepted.duplicate:
            outcome = DUPLICATE
        else:
            outcome = SCHEDULED if notification.send_at is not None else ACCEPTED
        results[candidate.index] = BulkItemResult(candidate.index, outcome, notification=notification)
        for index in candidate.results_like:
            results[index] = BulkItemResult(index, DUPLICATE, notification=notification)
    return results


def _store(*, sender: Sender, candidates: list[_Candidate], trace_id: str) -> list[AcceptedNotification]:
    if not candidates:
        return []
    try:
        with transaction.atomic():
            notifications = NotificationRequest.objects.bulk_create(
                [_notification_of(sender, c, trace_id) for c in candidates]
            )
            outboxes = OutboxMessage.objects.bulk_create(
                [_outbox_of(n, c) for n, c in zip(notifications, candidates, strict=True)]
            )
            due = [o for o in outboxes if o.due_at is None]
            if due:
                transaction.on_commit(lambda: _publish_after_commit(due), robust=True)
    except IntegrityError:
        # A concurrent request used one of these request_ids first (rare): the single path
        # resolves each item against what committed.
        logger.info("bulk insert raced a concurrent request; accepting the items one by one")
        return [_accept_one(sender, c, trace_id) for c in candidates]
    return [AcceptedNotification(notification=n, duplicate=False) for n in notifications]


def _accept_one(sender: Sender, candidate: _Candidate, trace_id: str) -> AcceptedNotification:
    fields = {k: v for k, v in candidate.fields.items() if k != "send_at"}
    return notification_accept(sender=sender, trace_id=trace_id, send_at=candidate.fields.get("send_at"), **fields)


def _notification_of(sender: Sender, candidate: _Candidate, trace_id: str) -> NotificationRequest:
    fields = candidate.fields
    send_at = candidate.deferred_to or fields.get("send_at")
    return NotificationRequest(
        sender=sender.label,
        idempotency_key=fields.get("request_id"),
        request_hash=candidate.request_hash,
        notification_type=fields["notification_type"],
        user_id=str(fields["user_id"]),
        template_code=fields["template_code"],
        language=fields["language"],
        variables=fields["variables"],
        priority=fields["priority"],
        metadata=fields["metadata"],
        trace_id=trace_id,
        send_at=send_at,
        quiet_hours_deferred=candidate.deferred_to is not None,
        **({"status": NotificationStatus.SCHEDULED} if send_at is not None else {}),
    )


def _outbox_of(notification: NotificationRequest, candidate: _Candidate) -> OutboxMessage:
    return OutboxMessage(
        notification=notification,
        routing_key=ROUTING_KEYS[notification.notification_type],
        body=notification_message(
            notification=notification,
            recipient=candidate.recipient,
            category=candidate.category,
            category_required=candidate.category_required,
        ),
        headers={TRACE_ID_HEADER: notification.trace_id},
        priority=notification.priority,
        due_at=notification.send_at,
    )


def _publish_after_commit(outboxes: list[OutboxMessage]) -> None:
    """Publish the committed rows, then mark the published ones in one statement. What was
    not confirmed stays for the relay (which also handles a refused row)."""
    publisher = get_publisher(common_settings.RABBITMQ_URL)
    # One write of all the messages, then all their confirms together (pipelined).
    outcomes = publisher.publish_batch([outbox_message_item(outbox) for outbox in outboxes])
    published = [outbox.pk for outbox, outcome in zip(outboxes, outcomes, strict=True) if outcome.published]
    if len(published) < len(outboxes):
        first = next(outcome for outcome in outcomes if not outcome.published)
        logger.warning(
            "bulk publish: %d of %d left to the outbox relay",
            len(outboxes) - len(published),
            len(outboxes),
            extra={"error": first.reason},
        )
    if published:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {OutboxMessage._meta.db_table} SET published_at = now(), attempts = attempts + 1, "
                "last_error = '' WHERE id = ANY(%s) AND published_at IS NULL",
                [published],
            )
