"""A sender's webhook endpoints, the deliveries owed to them, and the dispatcher's cursor.

The dispatcher (``manage.py dispatch_webhooks``) reads final statuses from the user service
after a cursor, writes one WebhookDelivery per subscribed endpoint, then POSTs them with
retries (docs/api_gateway.md, "Status webhooks").
"""

import uuid

from django.db import models
from django.db.models import Q

from webhooks.constants import DeliveryState


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The API key that registered it, as NotificationRequest.sender ("key:<key id>"): only
    # that sender's notifications produce events for it.
    sender = models.CharField(max_length=200)
    url = models.URLField(max_length=2048)
    events = models.JSONField(default=list)
    # Kept as is, not hashed: signing needs the secret itself (an HMAC key). Whoever reads this
    # table can forge signatures; it is as sensitive as the gateway's own credentials.
    secret = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["sender", "-created_at"], name="webhook_sender_created_idx")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.sender} -> {self.url}"


class WebhookDelivery(models.Model):
    """One event owed to one endpoint, with every attempt made so far."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32)
    notification_id = models.UUIDField()
    # The exact JSON object POSTed (the same bytes on every attempt, signed per attempt).
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # [{"at", "status_code", "error", "duration_ms"}], oldest first.
    history = models.JSONField(default=list, blank=True)
    # When the next attempt is due. While an attempt is in flight it is pushed ahead by a
    # lease, so a dispatcher that dies mid-send leaves the delivery to be retried, not lost.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Retries stop after this (created_at + WEBHOOK_RETRY_BUDGET_SECONDS).
    give_up_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One event per notification per endpoint, however often the status is read.
            models.UniqueConstraint(fields=["endpoint", "notification_id", "event"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(state=DeliveryState.PENDING), name="webhook_delivery_due_idx"
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint_idx"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event} {self.notification_id} -> {self.endpoint_id} ({self.state})"


class WebhookStatusCursor(models.Model):
    """How far the dispatcher has read the user service's status events: the (received_at,
    id) of the last event taken. One row; dispatchers take it FOR UPDATE SKIP LOCKED."""

    name = models.CharField(max_length=32, primary_key=True)
    received_at = models.DateTimeField(null=True, blank=True)
    event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.received_at} #{self.event_id}"
