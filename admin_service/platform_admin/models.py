import base64
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from platform_admin.constants import AuditAction, BodyEncoding, Channel


class ApiKey(models.Model):
    """An API key: only its sha256 and a short visible prefix are stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    is_bootstrap = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class DeadLetter(models.Model):
    """A message that left failed.queue, kept for inspection and replay."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message_id = models.CharField(max_length=255, null=True, blank=True)
    notification_id = models.CharField(max_length=64, blank=True, db_index=True)
    channel = models.CharField(max_length=16, choices=Channel.CHOICES, db_index=True)
    original_queue = models.CharField(max_length=255, blank=True)
    reason = models.TextField(blank=True)
    failure_kind = models.CharField(max_length=32, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=1)
    history = models.JSONField(default=list)
    headers = models.JSONField(default=dict)
    priority = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.TextField()
    failed_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replay_count = models.PositiveIntegerField(default=0)
    # The message could not be stored as it was (a NUL byte, broken header types...): what is
    # here is a reduced form (headers stringified or dropped, maybe the body as base64) and
    # store_error says why. docs/admin_service.md, "Dead letters stored reduced".
    stored_reduced = models.BooleanField(default=False, db_index=True)
    store_error = models.TextField(blank=True)
    # "" when body is the message's text; "base64" when it holds the raw bytes base64-encoded.
    body_encoding = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            # The consumer is at-least-once: a redelivered dead letter must not become two rows.
            models.UniqueConstraint(
                fields=["message_id"], condition=Q(message_id__isnull=False), name="dead_letter_unique_message_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.notification_id or self.id}: {self.reason[:60]}"

    def body_bytes(self) -> bytes:
        """The message body as it arrived."""
        if self.body_encoding == BodyEncoding.BASE64:
            return base64.b64decode(self.body)
        return self.body.encode("utf-8")


class AuditEntry(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    actor = models.CharField(max_length=150, db_index=True)
    action = models.CharField(max_length=40, choices=AuditAction.CHOICES, db_index=True)
    target = models.CharField(max_length=255, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"
