"""The gateway's records: accepted notification requests and their transactional outbox.

A request and its outbox row are written in one transaction; the row is published after
commit and, failing that, by ``manage.py relay_outbox`` (docs/api_gateway.md).
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from notifications.constants import NotificationStatus, NotificationType


class NotificationRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # "user:<uuid>" for a user token, "key:<key id>" for an API key: idempotency keys,
    # reads and rate limits are all per sender.
    sender = models.CharField(max_length=200)
    # The client's request_id / Idempotency-Key; null when the client sent none.
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    # sha256 of the canonical JSON of the fields that decide what is delivered.
    request_hash = models.CharField(max_length=64)
    notification_type = models.CharField(max_length=16, choices=NotificationType.choices)
    user_id = models.UUIDField()
    template_code = models.CharField(max_length=100)
    language = models.CharField(max_length=35)
    variables = models.JSONField(default=dict, blank=True)
    priority = models.PositiveSmallIntegerField(default=5)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    # When the sender asked for it to go out (null: at once); docs/api.md, "Scheduled sends".
    send_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # send_at was moved to the end of the user's quiet hours (docs/api.md, "Quiet hours").
    quiet_hours_deferred = models.BooleanField(default=False)
    trace_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # NULLs are distinct in PostgreSQL, so requests without a key never collide.
            models.UniqueConstraint(fields=["sender", "idempotency_key"], name="notification_sender_idempotency_uniq"),
        ]
        indexes = [
            models.Index(fields=["sender", "-created_at"], name="notif_sender_created_idx"),
            models.Index(fields=["created_at"], name="notif_created_idx"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.notification_type} {self.template_code} -> {self.user_id} ({self.id})"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PUBLISHED = "published", "Published"
    # Refused by the broker OUTBOX_MAX_PUBLISH_ATTEMPTS times: set aside until replayed.
    PARKED = "parked", "Parked"
    # A scheduled row waiting for its due time, or cancelled before it.
    SCHEDULED = "scheduled", "Scheduled"
    CANCELLED = "cancelled", "Cancelled"


class OutboxMessage(models.Model):
    notification = models.OneToOneField(NotificationRequest, on_delete=models.CASCADE, related_name="outbox")
    routing_key = models.CharField(max_length=64)
    body = models.JSONField()
    headers = models.JSONField(default=dict, blank=True)
    priority = models.PositiveSmallIntegerField(default=5)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # Every publish tried, outages included (for the operator's eye only).
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Publishes the broker refused (returned as unroutable, nacked). Only these count towards
    # parking: a broker outage is not the row's fault.
    failed_attempts = models.PositiveIntegerField(default=0)
    # After a refusal the relay leaves the row alone until then (per-row backoff).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    parked_at = models.DateTimeField(null=True, blank=True)
    # A parked row may be replayed once (docs/api_gateway.md, "Parked rows").
    replayed_at = models.DateTimeField(null=True, blank=True)
    replay_count = models.PositiveIntegerField(default=0)
    # Scheduled rows only: not published after commit, but by the relay once due_at has come.
    # Null for a row published at once (the after-commit publish, the relay after its grace).
    due_at = models.DateTimeField(null=True, blank=True)
    # A scheduled row cancelled before it was published: never published.
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The relay and the health check look at unpublished, unparked rows, oldest first.
            # Scheduled rows are left out: a month of them must not sit in every relay scan.
            models.Index(
                fields=["created_at"],
                condition=Q(published_at__isnull=True, parked_at__isnull=True, due_at__isnull=True),
                name="outbox_unpublished_idx",
            ),
            # The scheduler's due index: scheduled rows still to publish, by due time.
            models.Index(
                fields=["due_at"],
                condition=Q(
                    published_at__isnull=True, parked_at__isnull=True, cancelled_at__isnull=True, due_at__isnull=False
                ),
                name="outbox_due_idx",
            ),
            models.Index(fields=["parked_at"], condition=Q(parked_at__isnull=False), name="outbox_parked_idx"),
        ]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"outbox {self.pk} {self.routing_key} ({self.status})"

    @property
    def status(self) -> str:
        if self.published_at:
            return OutboxStatus.PUBLISHED
        if self.cancelled_at:
            return OutboxStatus.CANCELLED
        if self.parked_at:
            return OutboxStatus.PARKED
        if self.due_at and self.due_at > timezone.now():
            return OutboxStatus.SCHEDULED
        return OutboxStatus.PENDING

    @property
    def message_id(self) -> str:
        return str(self.notification_id)
