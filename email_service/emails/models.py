"""Email deliveries and their attempts (the service's own database; docs/email_service.md)."""

import uuid

from django.db import models

from emails.constants import AttemptOutcome, AttemptStage, DeliveryStatus


class EmailNotification(models.Model):
    """One email notification: at most one successful SMTP hand-over per ``notification_id``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    notification_id = models.UUIDField(unique=True)
    user_id = models.UUIDField(null=True, blank=True, db_index=True)
    recipient = models.CharField(max_length=254, blank=True)
    recipient_name = models.CharField(max_length=200, blank=True)
    template_code = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=35, blank=True, help_text="Language asked for in the message.")
    rendered_language = models.CharField(max_length=35, blank=True, help_text="Language the template service used.")
    template_version = models.PositiveIntegerField(null=True, blank=True)
    subject = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=DeliveryStatus.CHOICES, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True, help_text="RFC 5322 Message-ID, stable per notification.")
    trace_id = models.CharField(max_length=128, blank=True)
    # The claim of the consumer that marked the row "sending" (see services.claims.email_batch_claim):
    # when it was taken, the fencing token of that claim (a new one per claim, so a holder
    # whose lease ran out and was taken over can tell, and neither sends nor stores an
    # outcome), and until when the lease runs (renewed by the holder before each SMTP send).
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Set by the holder right ahead of the message's end, once the server said 354 (services.
    # claims.email_handover_mark); cleared when the server refused the email. A row found
    # "sending" with it after its lease ran out was maybe received: it becomes failed
    # (outcome_unknown) and is never sent again.
    handed_over_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The final status last acknowledged by the user service; rows whose status differs are
    # reported again when a consumer starts (a report may die with the process that queued it).
    reported_status = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="email_status_created_idx"),
            models.Index(fields=["created_at"], name="email_created_idx"),
            models.Index(
                fields=["status"],
                name="email_unreported_idx",
                condition=models.Q(status__in=DeliveryStatus.FINAL) & ~models.Q(reported_status=models.F("status")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.notification_id} -> {self.recipient} ({self.status})"


class EmailAttempt(models.Model):
    """One try at a delivery: rendering and, when that worked, the SMTP hand-over."""

    delivery = models.ForeignKey(EmailNotification, on_delete=models.CASCADE, related_name="attempt_log")
    attempt_number = models.PositiveIntegerField()
    queue_attempt = models.PositiveIntegerField(default=1, help_text="x-attempt of the queue message.")
    outcome = models.CharField(max_length=24, choices=AttemptOutcome.CHOICES)
    stage = models.CharField(max_length=16, choices=AttemptStage.CHOICES, default=AttemptStage.SMTP)
    error = models.TextField(blank=True)
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["delivery", "attempt_number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "attempt_number"], name="email_attempt_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.delivery.notification_id} #{self.attempt_number} {self.outcome}"
