"""Push deliveries: one PushNotification per notification, one PushDeviceResult per device.

The unique (notification, token) pair is what makes "at most one push per device per
notification" hold across redeliveries and retries: only devices still ``pending`` are sent,
under the claim (fencing token + lease) of one worker (docs/push_service.md, "State machine").
"""

import uuid

from django.db import models

from pushes.constants import (
    DEVICE_FAILED,
    DEVICE_PENDING,
    DEVICE_SENDING,
    DEVICE_SENT,
    MAX_TOKEN_LENGTH,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_PENDING,
)


class PushNotification(models.Model):
    class Status(models.TextChoices):
        PENDING = STATUS_PENDING
        DELIVERED = STATUS_DELIVERED
        FAILED = STATUS_FAILED

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    notification_id = models.UUIDField(unique=True)
    user_id = models.UUIDField(db_index=True)
    template_code = models.CharField(max_length=100)
    language = models.CharField(max_length=16, blank=True)
    version = models.PositiveIntegerField(null=True, blank=True)
    # The render is stored so that retries send the very same push without asking the
    # template service again.
    title = models.TextField(blank=True)
    body = models.TextField(blank=True)
    image_url = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    rendered_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    trace_id = models.CharField(max_length=128, blank=True)
    # The last status the user service acknowledged; differs from ``status`` while a report
    # is still on its way (re-sent when the consumer starts).
    reported_status = models.CharField(max_length=16, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # The claim of the worker sending this notification now: a new token per claim (every
    # write of the holder is conditional on it) and the lease, renewed just before each send.
    claim_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="push_status_created_idx"),
            models.Index(fields=["created_at"], name="push_created_idx"),
        ]

    def __str__(self) -> str:
        return f"push {self.notification_id} ({self.status})"


class PushDeviceResult(models.Model):
    class Status(models.TextChoices):
        SENT = DEVICE_SENT
        FAILED = DEVICE_FAILED
        PENDING = DEVICE_PENDING
        SENDING = DEVICE_SENDING

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    notification = models.ForeignKey(PushNotification, on_delete=models.CASCADE, related_name="devices")
    token = models.CharField(max_length=MAX_TOKEN_LENGTH)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    deactivation_requested = models.BooleanField(default=False)
    # Set when the user service confirmed the deactivation (re-sent at start while null).
    deactivated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "token"]
        constraints = [
            models.UniqueConstraint(fields=["notification", "token"], name="push_one_result_per_device"),
        ]

    def __str__(self) -> str:
        return f"{self.token[:16]}… ({self.status})"
