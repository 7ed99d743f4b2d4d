"""Publishing outbox rows: right after the request's commit (``outbox_publish``), and by
the relay for what that left behind and for scheduled rows once due (``outbox_relay_batch``).

A row the broker refuses is counted against that row (backoff, then parked); an outage
counts against none (docs/api_gateway.md, "Parked rows").
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from notification_common.conf import common_settings
from notification_common.rabbitmq import PublishError, PublishRejected, get_publisher
from notifications.constants import NotificationStatus
from notifications.metrics import OUTBOX_PARKED, OUTBOX_REFUSED
from notifications.models import NotificationRequest, OutboxMessage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelayResult:
    published: int
    taken: int = 0  # rows due that this batch looked at (published, refused or not reached)
    refused: int = 0  # rows the broker refused (each counted against its own row)
    parked: int = 0  # of those, rows that reached OUTBOX_MAX_PUBLISH_ATTEMPTS and were set aside
    error: str | None = None  # a broker outage: the batch stopped there


# Broker URL -> monotonic time until which requests leave publishing to the relay.
_publish_paused_until: dict[str, float] = {}
_pause_lock = threading.Lock()


def outbox_message_item(outbox: OutboxMessage) -> tuple[str, dict, dict]:
    """The row as a ``(routing_key, body, kwargs)`` item of ``Publisher.publish_batch``."""
    kwargs = {"headers": outbox.headers, "message_id": outbox.message_id, "priority": outbox.priority}
    return outbox.routing_key, outbox.body, kwargs


def _publish(publisher, outbox: OutboxMessage, body: bytes | None = None) -> None:
    routing_key, row_body, kwargs = outbox_message_item(outbox)
    publisher.publish(routing_key, row_body if body is None else body, **kwargs)


def outbox_publish(*, outbox: OutboxMessage, body: bytes | None = None) -> bool:
    """Publish one committed outbox row and mark it; on failure leave it to the relay.

    ``body``: the row's body as JSON already encoded (the intake encodes it once for both)."""
    url = common_settings.RABBITMQ_URL
    if time.monotonic() < _publish_paused_until.get(url, 0.0):
        return False
    try:
        _publish(get_publisher(url), outbox, body)
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

    The rows are published together and their confirms awaited together. A row the broker
    refuses is counted against that row alone (backoff, then parked) and the others go on; a
    broker outage counts against no row.
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
        # All the batch's confirms are awaited together (pipelined), not one per row.
        outcomes = publisher.publish_batch([outbox_message_item(row) for row in rows]) if rows else []
        not_sent: list[int] = []
        for row, outcome in zip(rows, outcomes, strict=True):
            tried.append(row.pk)
            failure = outcome.error()
            if failure is None:
                published.append(row.pk)
            elif isinstance(failure, PublishRejected):
                refused += 1
                stored = outbox_publish_refusal_record(outbox_id=row.pk, error=str(failure), now=now)
                parked += bool(stored and stored.parked_at)
            else:
                # The broker is unreachable: it is no row's fault, so no refusal is counted.
                error = error or str(failure)
                not_sent.append(row.pk)
        if not_sent:
            OutboxMessage.objects.filter(pk__in=not_sent).update(last_error=error[:1000])
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
