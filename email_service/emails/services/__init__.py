"""Writes of the email service, and the delivery of a batch of email requests.

A delivery is claimed (status ``sending``, a fencing token and a lease, in one commit)
before SMTP. Just before each SMTP send the holder makes sure the claim is still its own:
past half the lease it renews the lease with a conditional UPDATE on its token; if the row
was taken over meanwhile (the lease ran out while the batch stalled and a redelivered copy
claimed it), the email is not sent. Right after the server
accepted an email the row is marked ``delivered`` (again only with the holder's token), so
no later claim can send it again. A redelivered message of a ``delivered`` notification is
acknowledged without sending; one of a ``sending`` notification under a live lease waits.
Just before the DATA command the holder renews its lease (the fence); once the server said 354
it sends a hand-over mark right ahead of the message's end: a worker that stops between that
mark and the ``delivered`` commit leaves a row the next claim fails as outcome_unknown
instead of sending it again (at most one email): docs/email_service.md ("State machine").
"""

from emails.services.attempts import (
    FINALIZE_TRIES,
    AttemptRecord,
    email_batch_finalize,
    email_sent_store,
)
from emails.services.claims import (
    LOCKED_RETRY_SECONDS,
    BatchClaim,
    email_batch_claim,
    email_claim_holds,
    email_claim_renew,
    email_handover_fence,
    email_handover_mark,
)
from emails.services.delivery import MAX_CONNECTION_FAILURES_PER_BATCH, BatchResult, email_batch_deliver
from emails.services.outcomes import email_mark_failed, email_mark_reported

__all__ = [
    "FINALIZE_TRIES",
    "LOCKED_RETRY_SECONDS",
    "MAX_CONNECTION_FAILURES_PER_BATCH",
    "AttemptRecord",
    "BatchClaim",
    "BatchResult",
    "email_batch_claim",
    "email_batch_deliver",
    "email_batch_finalize",
    "email_claim_holds",
    "email_claim_renew",
    "email_handover_fence",
    "email_handover_mark",
    "email_mark_failed",
    "email_mark_reported",
    "email_sent_store",
]
