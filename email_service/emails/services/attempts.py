"""The outcome of each delivery attempt of a batch, stored under the claim's token: a sent
email at once (``email_sent_store``), then every attempt row and failed try together
(``email_batch_finalize``), each retried on a database blip (the emails already left).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from emails.clients import RenderedEmail
from emails.constants import AttemptOutcome, AttemptStage, DeliveryStatus
from emails.errors import DeliveryFailure
from emails.models import EmailAttempt, EmailNotification
from emails.queue_messages import EmailRequest
from emails.services.claims import BatchClaim
from notification_common.bulk_writes import update_rows

logger = logging.getLogger(__name__)

FINALIZE_TRIES = 3
_FINALIZE_FIELDS = ["status", "sent_at", "last_error", "smtp_code", "subject", "template_version"]
_FINALIZE_FIELDS += ["rendered_language", "claimed_at", "lease_expires_at", "handed_over_at", "updated_at"]


@dataclass
class AttemptRecord:
    delivery: EmailNotification
    request: EmailRequest
    rendered: RenderedEmail | None
    failure: DeliveryFailure | None
    duration_ms: int = 0
    smtp_code: int | None = None
    stored: bool = False  # a sent email whose ``delivered`` row was committed right after SMTP


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
        row.handed_over_at = None  # the server refused it (or never got it): it may be sent again
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
        update_rows(EmailNotification, rows, _FINALIZE_FIELDS)
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
