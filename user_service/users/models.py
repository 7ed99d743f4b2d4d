"""Users, their preferences and push devices, and the log of notifications sent to them.

The notification log is written only by status reports from the workers; the ordering
rules live in delivery_status.notification_status_record_batch (docs/user_service.md).
"""

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower

from users.constants import Channel, DeliveryStatus, Platform


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively: stored and looked up lower-cased."""
    return (email or "").strip().lower()


class UserQuerySet(models.QuerySet):
    def with_email(self, email: str) -> "UserQuerySet":
        # Filters on Lower(email) so PostgreSQL uses the case-insensitive unique index.
        return self.alias(email_lower=Lower("email")).filter(email_lower=normalize_email(email))


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    def get_by_natural_key(self, email):
        return self.with_email(email).get()

    def create_user(self, email: str, password: str | None = None, **fields):
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        Preferences.objects.create(user=user)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=150)
    is_active = models.BooleanField(default=True)
    # Only for the Django admin of this service; platform users never need it.
    is_staff = models.BooleanField(default=False)
    # Refresh tokens issued before this moment are refused (a password change logs out).
    password_changed_at = models.DateTimeField(null=True, blank=True)
    # Sender-managed users (users/managed.py): the API key that syncs this user and its id for
    # the user in that sender's own system. Blank for users who registered themselves.
    external_key_id = models.CharField(max_length=64, blank=True, default="")
    external_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Guards case-insensitivity even for rows written around normalize_email().
            models.UniqueConstraint(Lower("email"), name="users_user_email_ci_unique"),
            # An external id names one user per sender key (docs/user_service.md, "Sender-managed users").
            models.UniqueConstraint(
                fields=["external_key_id", "external_id"],
                condition=~models.Q(external_id=""),
                name="users_user_external_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.email


class Preferences(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="preferences")
    email = models.BooleanField(default=True)
    push = models.BooleanField(default=True)
    # Quiet hours: the gateway defers a non-urgent notification that falls inside the daily
    # window {"start": "22:00", "end": "07:00"} (local time in `timezone`, IANA) to its end.
    timezone = models.CharField(max_length=64, default="UTC")
    quiet_hours = models.JSONField(null=True, blank=True)
    # Per-category, per-channel switches: {"marketing": {"email": false}}. A category or channel
    # not named here is on; the gateway ignores switches of required categories (docs/api.md,
    # "Categories and unsubscribe"). Categories belong to the template service: named by slug.
    categories = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "preferences"

    def __str__(self) -> str:
        return f"email={self.email} push={self.push}"


class Device(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="devices")
    token = models.CharField(max_length=512)
    platform = models.CharField(max_length=16, choices=Platform.CHOICES, default=Platform.DEFAULT)
    name = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)
    last_seen = models.DateTimeField()
    deactivated_at = models.DateTimeField(null=True, blank=True)
    deactivation_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen"]
        constraints = [models.UniqueConstraint(fields=["user", "token"], name="users_device_user_token_unique")]
        # The push service deactivates dead tokens by token alone.
        indexes = [models.Index(fields=["token"], name="users_device_token_idx")]

    def __str__(self) -> str:
        return f"{self.platform}:{self.token[:16]}"


class NotificationLog(models.Model):
    notification_id = models.UUIDField(unique=True)
    # Not a foreign key: a report may arrive before (or without) knowing its user.
    user_id = models.UUIDField(null=True, blank=True)
    channel = models.CharField(max_length=8, choices=Channel.CHOICES)
    status = models.CharField(max_length=16, choices=DeliveryStatus.CHOICES)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # The timestamp of the report that set the current status (decides between finals).
    last_timestamp = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user_id", "-created_at"], name="users_nlog_user_created_idx"),
            models.Index(fields=["updated_at"], name="users_nlog_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.notification_id} {self.channel} {self.status}"


class NotificationStatusEvent(models.Model):
    """Every distinct report received for a notification, in the order they were sent."""

    log = models.ForeignKey(NotificationLog, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=16, choices=DeliveryStatus.CHOICES)
    timestamp = models.DateTimeField()
    error = models.TextField(blank=True)
    attempt = models.PositiveIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["timestamp", "id"]
        constraints = [
            # A repeated report (same status at the same time) is recorded once.
            models.UniqueConstraint(fields=["log", "status", "timestamp"], name="users_nevent_dedupe_unique"),
        ]
        indexes = [
            # The final-status feed (users/status_feed.py) reads after a (received_at, id) cursor.
            models.Index(
                fields=["received_at", "id"],
                condition=models.Q(status__in=DeliveryStatus.FINAL),
                name="users_nevent_final_feed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status} at {self.timestamp.isoformat()}"
