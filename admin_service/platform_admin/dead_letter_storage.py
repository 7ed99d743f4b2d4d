"""Writes of dead letters that could not be stored as they came (a NUL byte, broken header
types, values out of range): a reduced form, flagged, with the reason, so that every dead
letter is listed in the admin and nothing loops in failed.queue (docs/admin_service.md,
"Dead letters stored reduced"). The normal path is services.dead_letter_record.
"""

from django.db import transaction

from platform_admin.models import DeadLetter
from platform_admin.services import dead_letter_record


@transaction.atomic
def dead_letter_record_reduced(*, store_error: str, body_encoding: str, **fields) -> tuple[DeadLetter, bool]:
    """Store the reduced fields like any dead letter (same redelivery rules), flagged."""
    dead_letter, stored = dead_letter_record(**fields)
    if stored:
        DeadLetter.objects.filter(pk=dead_letter.pk).update(
            stored_reduced=True, store_error=store_error, body_encoding=body_encoding
        )
        dead_letter.stored_reduced, dead_letter.store_error = True, store_error
        dead_letter.body_encoding = body_encoding
    return dead_letter, stored
