"""The delivery of a batch of email requests: claim, render, check the claim, send, store.

Each step's guarantees are in the modules it calls (``claims``, ``attempts``) and in the
package's docstring (``emails.services``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import close_old_connections, connection

from emails.clients import TemplateRenderer
from emails.constants import FailureReason, reason
from emails.errors import DeliveryFailure
from emails.models import EmailNotification
from emails.queue_messages import EmailRequest
from emails.services.attempts import AttemptRecord, _with_db_retries, email_batch_finalize, email_sent_store
from emails.services.claims import email_batch_claim, email_claim_holds, email_handover_fence, email_handover_mark
from emails.transport import EmailService, HandoverRefused

logger = logging.getLogger(__name__)

# After this many connection-level SMTP failures in a row, the rest of the batch is not
# tried (each could wait for the SMTP timeout); those messages are retried later.
MAX_CONNECTION_FAILURES_PER_BATCH = 2


@dataclass
class BatchResult:
    outcomes: dict[str, DeliveryFailure | None]  # None: delivered now or before, or settled
    delivered: list[EmailNotification] = field(default_factory=list)


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
    outcomes.update({notification_id: None for notification_id in claim.settled})
    for row in claim.unknown:
        # Final, and dead-lettered like push's (visible to operators); a replay does not send it.
        outcomes[str(row.notification_id)] = DeliveryFailure.permanent_failure(row.last_error)
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
            result = sender.send(
                request,
                rendered,
                before_data=lambda row=row: email_handover_fence(claim=claim, delivery=row),
                hand_over=lambda write, row=row: email_handover_mark(claim=claim, delivery=row, write=write),
            )
        except HandoverRefused as refused:
            if refused.claim_lost:
                logger.warning("delivery %s was taken over by another consumer; not sent here", row.notification_id)
                taken_over.add(request.notification_id)
            else:
                failure = DeliveryFailure.transient_failure(refused.reason)
                records.append(AttemptRecord(row, request, rendered, failure))
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
