"""The claim of a batch: rows marked ``sending`` under a fencing token and a lease, in one
commit before SMTP, and the check just before each send that the claim still holds.

Why the claim is fenced, and what it guarantees: the package's docstring
(``emails.services``) and docs/email_service.md ("State machine").
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from emails.constants import DeliveryStatus
from emails.models import EmailNotification
from emails.queue_messages import EmailRequest
from emails.transport import message_id_for

# A claimed row whose holder is still working (another process: the same notification
# published twice) is retried after about this long.
LOCKED_RETRY_SECONDS = 5.0


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
    claim.held = {row.pk for row in claim.claimed.values()}
    claim.sure_until = started + lease_seconds / 2
    return claim


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
