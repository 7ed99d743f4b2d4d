"""Dead letters: stored from failed.queue, replayed once to their work queue (audited)."""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework import status

from notification_common.conf import common_settings
from notification_common.exceptions import ApplicationError, DependencyUnavailable, NotFound
from notification_common.rabbitmq import WORK_QUEUES, PublishError, get_publisher
from platform_admin.constants import (
    H_REPLAY_COUNT,
    H_REPLAY_OF,
    H_REQUEST_ID,
    AdminErrorCode,
    AuditAction,
)
from platform_admin.models import DeadLetter
from platform_admin.services.audit import actor_name, audit_record

logger = logging.getLogger(__name__)


@transaction.atomic
def dead_letter_record(
    *,
    message_id: str | None,
    notification_id: str,
    channel: str,
    original_queue: str,
    reason: str,
    failure_kind: str,
    attempts: int,
    history: list,
    headers: dict,
    priority: int | None,
    body: str,
    failed_at: datetime | None,
) -> tuple[DeadLetter, bool]:
    """Store a dead letter; returns (row, stored). A redelivery of a message already stored
    changes nothing; the same message failing again after a replay reopens its row."""
    fields = {
        "notification_id": notification_id,
        "channel": channel,
        "original_queue": original_queue,
        "reason": reason,
        "failure_kind": failure_kind,
        "attempts": attempts,
        "history": history,
        "headers": headers,
        "priority": priority,
        "body": body,
        "failed_at": failed_at,
    }
    if message_id:
        existing = DeadLetter.objects.select_for_update().filter(message_id=message_id).first()
        if existing is not None:
            if existing.replayed_at is None:
                return existing, False
            for name, value in fields.items():
                setattr(existing, name, value)
            existing.replayed_at = None
            existing.received_at = timezone.now()
            existing.save()
            return existing, True
    try:
        with transaction.atomic():
            return DeadLetter.objects.create(message_id=message_id or None, **fields), True
    except IntegrityError:
        # Another consumer stored the same message a moment ago.
        return DeadLetter.objects.get(message_id=message_id), False


@transaction.atomic
def dead_letter_record_reduced(*, store_error: str, body_encoding: str, **fields) -> tuple[DeadLetter, bool]:
    """A dead letter that could not be stored as it came (a NUL byte, broken header types,
    values out of range), in the reduced form consumer.py makes of it: stored like any other
    (same redelivery rules), flagged with the reason, so that every dead letter is listed and
    nothing loops in failed.queue (docs/admin_service.md, "Dead letters stored reduced")."""
    dead_letter, stored = dead_letter_record(**fields)
    if stored:
        DeadLetter.objects.filter(pk=dead_letter.pk).update(
            stored_reduced=True, store_error=store_error, body_encoding=body_encoding
        )
        dead_letter.stored_reduced, dead_letter.store_error = True, store_error
        dead_letter.body_encoding = body_encoding
    return dead_letter, stored


def _dead_letter_publish(dead_letter: DeadLetter) -> None:
    # Fresh headers: the retry count and history start over; the trace id stays.
    headers = {H_REPLAY_OF: str(dead_letter.pk), H_REPLAY_COUNT: dead_letter.replay_count}
    request_id = (dead_letter.headers or {}).get(H_REQUEST_ID)
    if request_id:
        headers[H_REQUEST_ID] = str(request_id)
    get_publisher(common_settings.RABBITMQ_URL).publish(
        dead_letter.original_queue,
        dead_letter.body_bytes(),
        headers=headers,
        message_id=dead_letter.message_id,
        priority=dead_letter.priority,
    )


def dead_letter_replay(*, dead_letter_id, actor, ip: str | None = None) -> DeadLetter:
    """Republish one dead letter to its work queue, once.

    The row is locked and marked replayed in the same transaction before publishing, so a
    second click waits and then finds it replayed; a failed publish rolls the mark back."""
    with transaction.atomic():
        dead_letter = DeadLetter.objects.select_for_update().filter(pk=dead_letter_id).first()
        if dead_letter is None:
            raise NotFound("Dead letter not found.")
        if dead_letter.replayed_at is not None:
            raise ApplicationError(
                AdminErrorCode.ALREADY_REPLAYED,
                f"Dead letter {dead_letter.pk} was already replayed at {dead_letter.replayed_at.isoformat()}.",
                status.HTTP_409_CONFLICT,
            )
        if dead_letter.original_queue not in WORK_QUEUES:
            raise ApplicationError(
                AdminErrorCode.NOT_REPLAYABLE,
                f"Dead letter {dead_letter.pk} did not come from a work queue ({dead_letter.original_queue!r}).",
                status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        marked = DeadLetter.objects.filter(pk=dead_letter.pk, replayed_at__isnull=True).update(
            replayed_at=timezone.now(), replay_count=F("replay_count") + 1
        )
        if not marked:  # cannot happen under the row lock; kept as the guarantee itself
            raise ApplicationError(
                AdminErrorCode.ALREADY_REPLAYED, "Dead letter was already replayed.", status.HTTP_409_CONFLICT
            )
        dead_letter.refresh_from_db()
        audit_record(
            actor=actor_name(actor),
            action=AuditAction.DEAD_LETTER_REPLAYED,
            target=f"dead_letter:{dead_letter.pk}",
            details={
                "notification_id": dead_letter.notification_id,
                "queue": dead_letter.original_queue,
                "replay_count": dead_letter.replay_count,
            },
            ip=ip,
        )
        try:
            _dead_letter_publish(dead_letter)
        except PublishError as exc:
            logger.warning("replay of dead letter %s failed: %s", dead_letter.pk, exc)
            message = "The broker did not take the message; nothing was replayed."
            raise DependencyUnavailable("rabbitmq", message) from exc
    return dead_letter


def dead_letters_replay(*, ids: list, actor, ip: str | None = None) -> dict:
    """Replay many, each in its own transaction; says what happened to every id."""
    outcome: dict[str, list[str]] = {"replayed": [], "already_replayed": [], "not_found": [], "failed": []}
    broker_down = False
    for dead_letter_id in dict.fromkeys(str(i) for i in ids):
        if broker_down:
            outcome["failed"].append(dead_letter_id)
            continue
        try:
            dead_letter_replay(dead_letter_id=dead_letter_id, actor=actor, ip=ip)
        except NotFound:
            outcome["not_found"].append(dead_letter_id)
        except DependencyUnavailable:
            broker_down = True
            outcome["failed"].append(dead_letter_id)
        except ApplicationError as exc:
            key = "already_replayed" if exc.code == AdminErrorCode.ALREADY_REPLAYED else "failed"
            outcome[key].append(dead_letter_id)
        else:
            outcome["replayed"].append(dead_letter_id)
    if broker_down and not outcome["replayed"]:
        raise DependencyUnavailable("rabbitmq", "The broker did not take the messages; nothing was replayed.")
    return outcome
