"""Writes of the email service, and the delivery of a batch of email requests.

A delivery is claimed (status ``sending``, a lease, in one commit) before SMTP and marked
``delivered`` in a second commit after the server accepted it. A redelivered message of a
``delivered`` notification is acknowledged without sending; one of a ``sending``
notification waits until the lease runs out. Only a crash (or lost database) between the
SMTP hand-over and the second commit can cause a second email: docs/email_service.md.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from emails.clients import RenderedEmail, TemplateRenderer
from emails.constants import AttemptOutcome, AttemptStage, DeliveryStatus, FailureReason, reason
from emails.exceptions import DeliveryFailure
from emails.messages import EmailRequest
from emails.models import EmailAttempt, EmailNotification
from emails.sending import EmailService, message_id_for

logger = logging.getLogger(__name__)

# After this many connection-level SMTP failures in a row, the rest of the batch is not
# tried (each could wait for the SMTP timeout); those messages are retried later.
MAX_CONNECTION_FAILURES_PER_BATCH = 2
# A claimed row whose holder is still working (another process: the same notification
# published twice) is retried after about this long.
LOCKED_RETRY_SECONDS = 5.0
FINALIZE_TRIES = 3
_FINALIZE_FIELDS = ["status", "sent_at", "last_error", "smtp_code", "subject", "template_version"]
_FINALIZE_FIELDS += ["rendered_language", "claimed_at", "updated_at"]


@dataclass
class BatchClaim:
    claimed_at: datetime
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


@transaction.atomic
def email_batch_claim(*, requests: list[EmailRequest], lease_seconds: float, from_email: str) -> BatchClaim:
    """Create missing rows and claim those that may be sent now (one commit, before SMTP)."""
    now = timezone.now()
    claim = BatchClaim(claimed_at=now)
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
        elif row.status == DeliveryStatus.SENDING and row.claimed_at and row.claimed_at + lease > now:
            claim.busy[notification_id] = max(1.0, (row.claimed_at + lease - now).total_seconds())
        else:
            # pending, failed (a replay from failed.queue), or a lease left by a crashed consumer
            row.status, row.claimed_at, row.updated_at = DeliveryStatus.SENDING, now, now
            row.attempts += 1
            claim.claimed[notification_id] = row
    for notification_id in by_id.keys() - {str(row.notification_id) for row in rows}:
        claim.busy[notification_id] = LOCKED_RETRY_SECONDS
    if claim.claimed:
        EmailNotification.objects.filter(pk__in=[row.pk for row in claim.claimed.values()]).update(
            status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
        )
    return claim


@transaction.atomic
def email_batch_finalize(*, claimed_at: datetime, records: list[AttemptRecord]) -> list[AttemptRecord]:
    """Store the outcome of each attempt; returns the records applied (rows still ours)."""
    ids = [record.delivery.pk for record in records]
    # A row whose lease we outlived may have been claimed again by another consumer: its
    # outcome is theirs to write.
    still_ours = set(
        EmailNotification.objects.select_for_update()
        .filter(pk__in=ids, claimed_at=claimed_at, status=DeliveryStatus.SENDING)
        .values_list("pk", flat=True)
    )
    now = timezone.now()
    applied, attempts = [], []
    for record in records:
        row = record.delivery
        if row.pk not in still_ours:
            logger.warning("delivery %s was claimed again meanwhile; outcome not stored", row.notification_id)
            continue
        failure = record.failure
        if record.rendered is not None:
            row.subject = record.rendered.subject
            row.template_version = record.rendered.version
            row.rendered_language = record.rendered.language
        row.claimed_at = None
        row.updated_at = now
        row.smtp_code = record.smtp_code
        if failure is None:
            row.status = DeliveryStatus.DELIVERED
            row.sent_at = now
            row.last_error = ""
            outcome = AttemptOutcome.SENT
        else:
            final = failure.permanent or record.request.final_attempt
            row.status = DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
            row.last_error = failure.reason
            outcome = AttemptOutcome.PERMANENT_FAILURE if failure.permanent else AttemptOutcome.TRANSIENT_FAILURE
        attempts.append(
            EmailAttempt(
                delivery=row,
                attempt_number=row.attempts,
                queue_attempt=record.request.queue_attempt,
                outcome=outcome,
                stage=failure.stage if failure else AttemptStage.SMTP,
                error=failure.reason if failure else "",
                smtp_code=record.smtp_code,
                duration_ms=record.duration_ms,
                created_at=now,
            )
        )
        applied.append(record)
    if applied:
        _update_rows([record.delivery for record in applied], _FINALIZE_FIELDS)
        EmailAttempt.objects.bulk_create(attempts)
    return applied


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


def _finalize_with_retries(*, claimed_at: datetime, records: list[AttemptRecord]) -> list[AttemptRecord]:
    # The emails are already with the SMTP server: a database blip here must not turn
    # into a retry (and a second email), so the commit is tried a few times first.
    for attempt in range(1, FINALIZE_TRIES + 1):
        try:
            return email_batch_finalize(claimed_at=claimed_at, records=records)
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
        try:
            result = sender.send(request, rendered)
        except DeliveryFailure as failure:
            if failure.reason.startswith(FailureReason.SMTP_CONNECTION_ERROR):
                connection_failures += 1
            records.append(AttemptRecord(row, request, rendered, failure, smtp_code=failure.smtp_code))
        else:
            connection_failures = 0
            records.append(
                AttemptRecord(row, request, rendered, None, duration_ms=result.duration_ms, smtp_code=result.smtp_code)
            )
    applied = _finalize_with_retries(claimed_at=claim.claimed_at, records=records) if records else []
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
    *, notification_id: str, failure_reason: str, body: dict | None = None
) -> EmailNotification | None:
    """Mark a dead-lettered notification failed (creating its row for a malformed message).

    Returns None when it was delivered after all (then nothing changes).
    """
    body = body if isinstance(body, dict) else {}
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
    elif row.status == DeliveryStatus.DELIVERED:
        return None
    row.status = DeliveryStatus.FAILED
    row.last_error = failure_reason
    row.claimed_at = None
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
