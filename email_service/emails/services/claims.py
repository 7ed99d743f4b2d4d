"""The claim of a batch: rows marked ``sending`` under a fencing token and a lease, in one
commit before SMTP, and the check just before each send that the claim still holds.

Why the claim is fenced, and what it guarantees: the package's docstring
(``emails.services``) and docs/email_service.md ("State machine").
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from emails.constants import AttemptOutcome, AttemptStage, DeliveryStatus, FailureReason, reason
from emails.models import EmailAttempt, EmailNotification
from emails.queue_messages import EmailRequest
from emails.transport import HandoverRefused, message_id_for
from notification_common.pipelined import AnswerLost, StatementNotSent, execute_then

logger = logging.getLogger(__name__)

# A claimed row whose holder is still working (another process: the same notification
# published twice) is retried after about this long.
LOCKED_RETRY_SECONDS = 5.0
OUTCOME_UNKNOWN_ERROR = reason(
    FailureReason.OUTCOME_UNKNOWN,
    "the worker that handed this email to the SMTP server stopped before it recorded the answer;"
    " not sent again (at most one email per notification)",
)


@dataclass
class BatchClaim:
    claimed_at: datetime
    token: uuid.UUID  # the fencing token of this claim: every write of the holder is conditional on it
    lease_seconds: float
    # Rows the last claim/renewal found ours, and until when (time.monotonic()) that answer is
    # certain: nobody can take a row over before its lease ends, so a batch that moves on
    # quickly sends without asking again (see email_claim_holds).
    held: set = field(default_factory=set)
    sure_until: float = 0.0
    claimed: dict[str, EmailNotification] = field(default_factory=dict)
    delivered: set[str] = field(default_factory=set)
    busy: dict[str, float] = field(default_factory=dict)  # notification_id -> seconds until the lease ends
    # Handed over by a holder that stopped before the answer: failed now as outcome_unknown.
    unknown: list[EmailNotification] = field(default_factory=list)
    settled: set[str] = field(default_factory=set)  # failed as outcome_unknown earlier: never sent again


def _new_row(request: EmailRequest, from_email: str) -> EmailNotification:
    return EmailNotification(
        notification_id=request.notification_id,
        user_id=request.user_id,
        recipient=request.recipient_email,
        recipient_name=request.recipient_name,
        template_code=request.template_code,
        language=request.language,
        trace_id=(request.trace_id or "")[:128],
        message_id=message_id_for(request.notification_id, from_email),
    )


def _lease_end(row: EmailNotification, lease: timedelta) -> datetime | None:
    # Rows claimed before claims carried their own expiry: the lease counts from the claim.
    if row.lease_expires_at is not None:
        return row.lease_expires_at
    return row.claimed_at + lease if row.claimed_at else None


def _claim_is_live(row: EmailNotification, now: datetime, lease: timedelta) -> bool:
    end = _lease_end(row, lease)
    return row.status == DeliveryStatus.SENDING and end is not None and end > now


@transaction.atomic
def email_batch_claim(*, requests: list[EmailRequest], lease_seconds: float, from_email: str) -> BatchClaim:
    """Create missing rows and claim those that may be sent now (one commit, before SMTP)."""
    started, now = time.monotonic(), timezone.now()
    claim = BatchClaim(claimed_at=now, token=uuid.uuid4(), lease_seconds=lease_seconds)
    by_id = {request.notification_id: request for request in requests}
    # Sorted, so two consumers inserting overlapping batches wait for each other instead of deadlocking.
    new_rows = [_new_row(by_id[notification_id], from_email) for notification_id in sorted(by_id)]
    EmailNotification.objects.bulk_create(new_rows, ignore_conflicts=True)
    # skip_locked: a row another consumer is claiming this very moment is simply "busy".
    rows = list(EmailNotification.objects.select_for_update(skip_locked=True).filter(notification_id__in=list(by_id)))
    lease = timedelta(seconds=lease_seconds)
    for row in rows:
        notification_id = str(row.notification_id)
        if row.status == DeliveryStatus.DELIVERED:
            claim.delivered.add(notification_id)
        elif _claim_is_live(row, now, lease):
            claim.busy[notification_id] = max(1.0, (_lease_end(row, lease) - now).total_seconds())
        elif row.handed_over_at is not None and row.status == DeliveryStatus.SENDING:
            _fail_unknown_outcome(row, now)
            claim.unknown.append(row)
        elif row.handed_over_at is not None:
            claim.settled.add(notification_id)  # failed earlier, maybe received: at most once
        else:
            # pending, failed (a replay from failed.queue), or a lease that ran out (its holder
            # crashed or stalled; a stalled holder finds its token gone and does not send)
            row.status, row.claimed_at, row.updated_at = DeliveryStatus.SENDING, now, now
            row.claim_token, row.lease_expires_at = claim.token, now + lease
            row.attempts += 1
            claim.claimed[notification_id] = row
    for notification_id in by_id.keys() - {str(row.notification_id) for row in rows}:
        claim.busy[notification_id] = LOCKED_RETRY_SECONDS
    if claim.claimed:
        EmailNotification.objects.filter(pk__in=[row.pk for row in claim.claimed.values()]).update(
            status=DeliveryStatus.SENDING,
            claimed_at=now,
            claim_token=claim.token,
            lease_expires_at=now + lease,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    if claim.unknown:
        EmailNotification.objects.filter(pk__in=[row.pk for row in claim.unknown]).update(
            status=DeliveryStatus.FAILED,
            last_error=OUTCOME_UNKNOWN_ERROR,
            claimed_at=None,
            lease_expires_at=None,
            updated_at=now,
        )
        EmailAttempt.objects.bulk_create(
            [
                EmailAttempt(
                    delivery=row,
                    attempt_number=row.attempts,
                    outcome=AttemptOutcome.OUTCOME_UNKNOWN,
                    stage=AttemptStage.SMTP,
                    error=OUTCOME_UNKNOWN_ERROR,
                    created_at=now,
                )
                for row in claim.unknown
            ],
            ignore_conflicts=True,
        )
    claim.held = {row.pk for row in claim.claimed.values()}
    claim.sure_until = started + lease_seconds / 2
    return claim


def _fail_unknown_outcome(row: EmailNotification, now: datetime) -> None:
    logger.warning("delivery %s was handed over by a worker that stopped; outcome unknown", row.notification_id)
    row.status, row.last_error, row.updated_at = DeliveryStatus.FAILED, OUTCOME_UNKNOWN_ERROR, now
    row.claimed_at = row.lease_expires_at = None


def email_claim_holds(*, claim: BatchClaim, delivery: EmailNotification) -> bool:
    """Whether the claim still holds ``delivery``: asked just before its SMTP send.

    Within the first half of the lease since the claim or the last renewal the answer is
    known without a statement (a live lease cannot be taken over, and half a lease leaves
    time for the send itself); later, after a stall, the lease is renewed and the rows
    still ours are read back (``email_claim_renew``).
    """
    if time.monotonic() >= claim.sure_until:
        email_claim_renew(claim=claim)
    return delivery.pk in claim.held


def email_claim_renew(*, claim: BatchClaim) -> set:
    """Extend the lease of every row this claim still holds; returns their primary keys.

    Called just before each SMTP send: a row missing from the answer was taken over by
    another consumer (our lease ran out while the batch stalled) and must not be sent. Rows
    waiting further down the batch are renewed too, so a batch that keeps making progress
    keeps its claim however long it is.
    """
    meta = EmailNotification._meta
    quote = connection.ops.quote_name
    started = time.monotonic()
    lease_end = timezone.now() + timedelta(seconds=claim.lease_seconds)
    pk = quote(meta.pk.column)
    # By primary key (the batch's rows), so the statement never scans the table.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {quote('lease_expires_at')} = %s"
        f" WHERE {pk} = ANY(%s) AND {quote('claim_token')} = %s AND {quote('status')} = %s RETURNING {pk}"
    )
    pks = [row.pk for row in claim.claimed.values()]
    with connection.cursor() as cursor:
        cursor.execute(sql, [lease_end, pks, claim.token, DeliveryStatus.SENDING])
        claim.held = {row[0] for row in cursor.fetchall()}
    claim.sure_until = started + claim.lease_seconds / 2
    return claim.held


_HANDOVER_FENCE_SQL = (
    f'UPDATE "{EmailNotification._meta.db_table}" SET "lease_expires_at" = %s'
    ' WHERE "id" = %s AND "claim_token" = %s AND "status" = %s'
)
_HANDOVER_SQL = (
    f'UPDATE "{EmailNotification._meta.db_table}" SET "handed_over_at" = $1, "lease_expires_at" = $2'
    ' WHERE "id" = $3 AND "claim_token" = $4 AND "status" = $5'
)


def email_handover_fence(*, claim: BatchClaim, delivery: EmailNotification) -> None:
    """Just before the DATA command: renew ``delivery``'s lease under our claim, awaited, in
    its own commit. Raises HandoverRefused, so nothing is sent, when the claim was taken over
    (``claim_lost``) or the database cannot take it. With the lease just renewed, no other
    consumer can claim the row before :func:`email_handover_mark` runs, milliseconds later.
    Within the first half of the lease since the claim or its last renewal there is nothing to
    ask: the claim is known to hold (as in email_claim_holds)."""
    if time.monotonic() < claim.sure_until and delivery.pk in claim.held:
        return
    params = [timezone.now() + timedelta(seconds=claim.lease_seconds), delivery.pk, claim.token, DeliveryStatus.SENDING]
    for attempt in (1, 2):
        try:
            with connection.cursor() as cursor:
                cursor.execute(_HANDOVER_FENCE_SQL, params)
                updated = cursor.rowcount
            break
        except DatabaseError as exc:
            connection.close()  # a dropped connection: the retry opens a new one
            if attempt == 2:
                raise HandoverRefused(reason(FailureReason.DATABASE_UNAVAILABLE, str(exc)[:200])) from exc
    if updated != 1:
        claim.held.discard(delivery.pk)
        raise HandoverRefused("the claim was taken over by another consumer", claim_lost=True)


def email_handover_mark(*, claim: BatchClaim, delivery: EmailNotification, write: Callable[[], None]) -> None:
    """Once the server said 354: mark ``delivery`` handed over (``handed_over_at``, renewing
    its lease, only under our claim) and write the message's end right behind the mark, before
    the mark's answer is read (notification_common.pipelined.execute_then).

    A worker stopped after the write leaves the row ``sending`` with the mark: the next claim
    fails it as outcome_unknown instead of sending it again (at most one email). One stopped
    before it leaves no message at the server. Raises HandoverRefused (``in_data``: the
    connection must be dropped), with nothing written, when the database cannot take the mark.
    """
    now = timezone.now()
    params = [
        now.isoformat(),
        (now + timedelta(seconds=claim.lease_seconds)).isoformat(),
        str(delivery.pk),
        str(claim.token),
        DeliveryStatus.SENDING,
    ]
    try:
        connection.ensure_connection()
        marked = execute_then(connection.connection, _HANDOVER_SQL, params, write)
    except (DatabaseError, StatementNotSent) as exc:
        connection.close()
        raise HandoverRefused(reason(FailureReason.DATABASE_UNAVAILABLE, str(exc)[:200]), in_data=True) from exc
    except AnswerLost as exc:
        logger.warning("the hand-over mark of %s got no answer (%s); the email went", delivery.notification_id, exc)
        connection.close()
        marked = 1
    if marked != 1:
        # Only if the claim was taken over within milliseconds of the fence's renewal.
        logger.error("delivery %s was handed over without its mark (claim taken over)", delivery.notification_id)
    delivery.handed_over_at = now
