"""Writes of the email service, and the delivery of a batch of email requests.

A delivery is claimed (status ``sending``, a fencing token and a lease, in one commit)
before SMTP. Just before each SMTP send the holder makes sure the claim is still its own:
past half the lease it renews the lease with a conditional UPDATE on its token; if the row
was taken over meanwhile (the lease ran out while the batch stalled and a redelivered copy
claimed it), the email is not sent. Right after the server
accepted an email the row is marked ``delivered`` (again only with the holder's token), so
no later claim can send it again. A redelivered message of a ``delivered`` notification is
acknowledged without sending; one of a ``sending`` notification under a live lease waits.
Only a crash (or lost database) between the SMTP hand-over and that commit can cause a
second email: docs/email_service.md ("State machine").
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from emails.clients import RenderedEmail, TemplateRenderer
from emails.constants import AttemptOutcome, AttemptStage, DeliveryStatus, FailureReason, reason
from emails.errors import DeliveryFailure
from emails.models import EmailAttempt, EmailNotification
from emails.queue_messages import EmailRequest
from emails.transport import EmailService, message_id_for

logger = logging.getLogger(__name__)

# After this many connection-level SMTP failures in a row, the rest of the batch is not
# tried (each could wait for the SMTP timeout); those messages are retried later.
MAX_CONNECTION_FAILURES_PER_BATCH = 2
# A claimed row whose holder is still working (another process: the same notification
# published twice) is retried after about this long.
LOCKED_RETRY_SECONDS = 5.0
FINALIZE_TRIES = 3
_FINALIZE_FIELDS = ["status", "sent_at", "last_error", "smtp_code", "subject", "template_version"]
_FINALIZE_FIELDS += ["rendered_language", "claimed_at", "lease_expires_at", "updated_at"]


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


@dataclass
class AttemptRecord:
    delivery: EmailNotification
    request: EmailRequest
    rendered: RenderedEmail | None
    failure: DeliveryFailure | None
    duration_ms: int = 0
    smtp_code: int | None = None
    stored: bool = False  # a sent email whose ``delivered`` row was committed right after SMTP


@dataclass
class BatchResult:
    outcomes: dict[str, DeliveryFailure | None]  # None: delivered now or before
    delivered: list[EmailNotification] = field(default_factory=list)


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


_SENT_SQL = (
    f'UPDATE "{EmailNotification._meta.db_table}" SET "status" = %s, "sent_at" = %s, "updated_at" = %s,'
    ' "last_error" = %s, "smtp_code" = %s, "subject" = %s, "template_version" = %s, "rendered_language" = %s,'
    ' "claimed_at" = NULL, "lease_expires_at" = NULL WHERE "id" = %s AND "claim_token" = %s AND "status" = %s'
)


def email_sent_store(*, claim: BatchClaim, record: AttemptRecord) -> bool:
    """Mark a delivery ``delivered`` right after the SMTP server accepted it (its own commit).

    From then on no claim can take the row, however long the rest of the batch takes. Only
    the holder's token may do it; False means the claim was taken over while the email was
    with the SMTP server (a send longer than the whole lease: a second email is possible).
    """
    row, rendered, now = record.delivery, record.rendered, timezone.now()
    # Plain SQL: it runs once per email, and building the ORM's UPDATE cost more CPU than the
    # statement itself.
    with connection.cursor() as cursor:
        cursor.execute(
            _SENT_SQL,
            [
                DeliveryStatus.DELIVERED,
                now,
                now,
                "",
                record.smtp_code,
                rendered.subject,
                rendered.version,
                rendered.language,
                row.pk,
                claim.token,
                DeliveryStatus.SENDING,
            ],
        )
        updated = cursor.rowcount
    if updated != 1:
        mine = EmailNotification.objects.filter(pk=row.pk, claim_token=claim.token, status=DeliveryStatus.DELIVERED)
        stored_at = mine.values_list("sent_at", flat=True).first()
        if stored_at is None:
            logger.error("delivery %s was taken over while its email was being sent", row.notification_id)
            return False
        now = stored_at  # a retry after a commit whose answer was lost: it is stored already
    row.status, row.sent_at, row.last_error, row.smtp_code = DeliveryStatus.DELIVERED, now, "", record.smtp_code
    row.subject, row.template_version, row.rendered_language = rendered.subject, rendered.version, rendered.language
    row.claimed_at = row.lease_expires_at = None
    row.updated_at = now
    record.stored = True
    return True


@transaction.atomic
def email_batch_finalize(*, token: uuid.UUID, records: list[AttemptRecord]) -> list[AttemptRecord]:
    """Store the outcome of each attempt; returns the records applied (rows still ours).

    Sent emails were stored as ``delivered`` already (``email_sent_store``); here they get
    their attempt row. A failed try is stored only while the row is still ``sending`` under
    this claim's token: a row taken over by another consumer is theirs to write.
    """
    ids = [record.delivery.pk for record in records if not record.stored]
    still_ours = set(
        EmailNotification.objects.select_for_update()
        .filter(pk__in=ids, claim_token=token, status=DeliveryStatus.SENDING)
        .values_list("pk", flat=True)
    )
    now = timezone.now()
    applied, attempts, rows = [], [], []
    for record in records:
        row = record.delivery
        if record.stored:
            applied.append(record)
            attempts.append(_attempt(record, None, now))
            continue
        if row.pk not in still_ours:
            logger.warning("delivery %s was claimed again meanwhile; outcome not stored", row.notification_id)
            continue
        failure = record.failure
        if record.rendered is not None:
            row.subject = record.rendered.subject
            row.template_version = record.rendered.version
            row.rendered_language = record.rendered.language
        row.claimed_at = row.lease_expires_at = None
        row.updated_at = now
        row.smtp_code = record.smtp_code
        if failure is None:
            # Not reached from email_batch_deliver (a sent email is stored at once); kept so a
            # record built by other code still lands as delivered.
            row.status = DeliveryStatus.DELIVERED
            row.sent_at = now
            row.last_error = ""
        else:
            final = failure.permanent or record.request.final_attempt
            row.status = DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
            row.last_error = failure.reason
        attempts.append(_attempt(record, failure, now))
        applied.append(record)
        rows.append(row)
    if rows:
        _update_rows(rows, _FINALIZE_FIELDS)
    if attempts:
        EmailAttempt.objects.bulk_create(attempts)
    return applied


def _attempt(record: AttemptRecord, failure: DeliveryFailure | None, now: datetime) -> EmailAttempt:
    if failure is None:
        outcome = AttemptOutcome.SENT
    else:
        outcome = AttemptOutcome.PERMANENT_FAILURE if failure.permanent else AttemptOutcome.TRANSIENT_FAILURE
    return EmailAttempt(
        delivery=record.delivery,
        attempt_number=record.delivery.attempts,
        queue_attempt=record.request.queue_attempt,
        outcome=outcome,
        stage=failure.stage if failure else AttemptStage.SMTP,
        error=failure.reason if failure else "",
        smtp_code=record.smtp_code,
        duration_ms=record.duration_ms,
        created_at=now,
    )


def _update_rows(rows: list[EmailNotification], fields: list[str]) -> None:
    """``bulk_update`` for many rows with different values, without its cost.

    Django's bulk_update builds one CASE expression per field and row (about 0.25 s of CPU
    for 50 rows here); one parametrised UPDATE run with executemany (pipelined by psycopg 3)
    takes a few milliseconds.
    """
    meta = EmailNotification._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in columns)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in columns]
        + [meta.pk.get_db_prep_save(row.pk, connection)]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _with_db_retries(write, **kwargs):
    # The emails are already with the SMTP server: a database blip here must not turn
    # into a retry (and a second email), so the commit is tried a few times first.
    for attempt in range(1, FINALIZE_TRIES + 1):
        try:
            return write(**kwargs)
        except DatabaseError:
            if attempt == FINALIZE_TRIES or connection.in_atomic_block:
                raise
            logger.warning("storing delivery outcomes failed; trying again", exc_info=True)
            connection.close()
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def email_batch_deliver(
    *,
    requests: list[EmailRequest],
    renderer: TemplateRenderer,
    sender: EmailService,
    lease_seconds: float,
) -> BatchResult:
    """Render and send a batch (one SMTP connection), recording every attempt.

    ``requests`` must have distinct notification ids. Returns, per notification id, None
    (delivered now, or already delivered before) or the DeliveryFailure.
    """
    if not connection.in_atomic_block:
        close_old_connections()  # a long-running consumer has no request cycle to do this
    claim = email_batch_claim(requests=requests, lease_seconds=lease_seconds, from_email=sender.from_email)
    taken_over: set[str] = set()
    outcomes: dict[str, DeliveryFailure | None] = {notification_id: None for notification_id in claim.delivered}
    for notification_id, retry_after in claim.busy.items():
        outcomes[notification_id] = DeliveryFailure.transient_failure(
            reason(FailureReason.DELIVERY_IN_PROGRESS, "another consumer holds this notification"),
            retry_after=retry_after,
        )
    to_send = [request for request in requests if request.notification_id in claim.claimed]
    records: list[AttemptRecord] = []
    connection_failures = 0
    # Renders arrive as the template service finishes them; each email leaves at once, so
    # SMTP and rendering overlap.
    for request, rendered in renderer.render_iter(to_send):
        row = claim.claimed[request.notification_id]
        if isinstance(rendered, DeliveryFailure):
            records.append(AttemptRecord(row, request, None, rendered))
            continue
        if connection_failures >= MAX_CONNECTION_FAILURES_PER_BATCH:
            skipped = DeliveryFailure.transient_failure(
                reason(FailureReason.SMTP_CONNECTION_ERROR, "not tried: the SMTP server failed earlier in this batch")
            )
            records.append(AttemptRecord(row, request, rendered, skipped))
            continue
        if not email_claim_holds(claim=claim, delivery=row):
            # Our lease ran out (a stalled render or SMTP server) and a redelivered copy
            # claimed the row: that consumer sends it and decides the outcome, not us.
            logger.warning("delivery %s was taken over by another consumer; not sent here", row.notification_id)
            taken_over.add(request.notification_id)
            continue
        try:
            result = sender.send(request, rendered)
        except DeliveryFailure as failure:
            if failure.reason.startswith(FailureReason.SMTP_CONNECTION_ERROR):
                connection_failures += 1
            records.append(AttemptRecord(row, request, rendered, failure, smtp_code=failure.smtp_code))
        else:
            connection_failures = 0
            record = AttemptRecord(
                row, request, rendered, None, duration_ms=result.duration_ms, smtp_code=result.smtp_code
            )
            if _with_db_retries(email_sent_store, claim=claim, record=record):
                records.append(record)
            else:
                taken_over.add(request.notification_id)
    for notification_id in taken_over:
        outcomes[notification_id] = None  # the consumer holding the row now settles it
    applied = _with_db_retries(email_batch_finalize, token=claim.token, records=records) if records else []
    result = BatchResult(outcomes=outcomes)
    applied_ids = {record.request.notification_id for record in applied}
    for record in records:
        notification_id = record.request.notification_id
        if notification_id not in applied_ids:
            # Someone else owns the row now; whatever happened here, they decide the outcome.
            outcomes[notification_id] = None
            continue
        outcomes[notification_id] = record.failure
        if record.failure is None:
            result.delivered.append(record.delivery)
    return result


@transaction.atomic
def email_mark_failed(
    *, notification_id: str, failure_reason: str, body: dict | None = None, lease_seconds: float | None = None
) -> EmailNotification | None:
    """Mark a dead-lettered notification failed (creating its row for a malformed message).

    Final states never go back: returns None, changing nothing, when the notification was
    delivered, or when a consumer holds a live claim on it (it is being sent right now; that
    consumer decides the outcome). A dead-lettered duplicate therefore cannot turn a sent
    email into ``failed``.
    """
    body = body if isinstance(body, dict) else {}
    lease = timedelta(seconds=settings.EMAIL_SENDING_LEASE_SECONDS if lease_seconds is None else lease_seconds)
    row = EmailNotification.objects.select_for_update().filter(notification_id=notification_id).first()
    if row is None:
        recipient = body.get("recipient") if isinstance(body.get("recipient"), dict) else {}
        row = EmailNotification(
            notification_id=notification_id,
            user_id=_uuid_or_none(body.get("user_id")),
            recipient=str(recipient.get("email") or "")[:254],
            recipient_name=str(recipient.get("name") or "")[:200],
            template_code=str(body.get("template_code") or "")[:100],
            language=str(body.get("language") or "")[:35],
        )
    elif row.status == DeliveryStatus.DELIVERED or _claim_is_live(row, timezone.now(), lease):
        return None
    row.status = DeliveryStatus.FAILED
    row.last_error = failure_reason
    row.claimed_at = row.lease_expires_at = None
    row.save()
    return row


def _uuid_or_none(value) -> str | None:
    try:
        return str(uuid.UUID(str(value))) if value else None
    except ValueError:
        return None


def email_mark_reported(*, reports: list[tuple[str, str]]) -> int:
    """Record that the user service has the final status of these notifications."""
    updated = 0
    for status in DeliveryStatus.FINAL:
        ids = [notification_id for notification_id, reported in reports if reported == status]
        if ids:
            updated += EmailNotification.objects.filter(notification_id__in=ids, status=status).update(
                reported_status=status
            )
    return updated
