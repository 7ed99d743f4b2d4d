"""Templates and their immutable, per-language versions (docs/template_service.md).

Rows are written only through ``services.py``: a version's content never changes after it is
created; activating another version is the only change a version ever sees.
"""

import uuid

from django.db import models
from django.db.models import Q

from notification_common.rendering import EMAIL_FIELDS, PUSH_FIELDS


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    PUSH = "push", "Push"


# The fields of each channel and their escaping rules belong to the shared renderer
# (notification_common.rendering), which the consumers use too.
CHANNEL_FIELDS = {Channel.EMAIL: EMAIL_FIELDS, Channel.PUSH: PUSH_FIELDS}
REQUIRED_FIELDS = {Channel.EMAIL: ("subject", "text_body"), Channel.PUSH: ("title", "body")}


# The category every template has unless told otherwise (docs/api.md, "Categories and unsubscribe").
DEFAULT_CATEGORY = "transactional"
# Created by migration 0003 and after every migrate (apps.py): (code, name, description, required).
SEEDED_CATEGORIES = [
    ("transactional", "Transactional", "Password resets, receipts, account changes: needed to use the product.", True),
    ("security", "Security", "Sign-in alerts and other security notices.", True),
    ("product", "Product updates", "News about features and changes to the product.", False),
    ("marketing", "Marketing", "Offers, newsletters and promotions.", False),
]


class Category(models.Model):
    """What kind of message a template sends, which users may opt out of per channel.

    ``required`` categories (security notices, and transactional mail such as password resets
    and receipts, which a user must get to use the product) cannot be opted out of: the gateway
    ignores a user's switch for them and their emails carry no List-Unsubscribe header.
    """

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    required = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.code


class Template(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.SlugField(max_length=100)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    default_language = models.CharField(max_length=35)
    description = models.TextField(blank=True, default="")
    # Whether a user token may trigger this template (to its own user only). Off by default:
    # open registration must not let strangers send our branded emails with their variables.
    user_triggerable = models.BooleanField(default=False)
    # By code (the column holds the slug): the API, the queue message and users' preferences
    # all name categories by code.
    category = models.ForeignKey(
        Category,
        to_field="code",
        db_column="category",
        on_delete=models.PROTECT,
        related_name="templates",
        default=DEFAULT_CATEGORY,
    )
    is_deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            # A deleted template keeps its history; its code may be used again by a new one.
            models.UniqueConstraint(fields=["code"], condition=Q(is_deleted=False), name="unique_live_template_code"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.channel})"


class TemplateVersion(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="versions")
    language = models.CharField(max_length=35)
    version = models.PositiveIntegerField()
    # email
    subject = models.CharField(max_length=500, blank=True, default="")
    text_body = models.TextField(blank=True, default="")
    html_body = models.TextField(blank=True, default="")
    # push
    title = models.CharField(max_length=200, blank=True, default="")
    body = models.TextField(blank=True, default="")
    image_url = models.CharField(max_length=2000, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    variables = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "language", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "language", "version"], name="unique_template_language_version"
            ),
            models.UniqueConstraint(
                fields=["template", "language"], condition=Q(is_active=True), name="one_active_version_per_language"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template.code} {self.language} v{self.version}"

    def content(self) -> dict:
        """The template texts of this version's channel (plus ``data`` for push)."""
        channel = self.template.channel
        content = {field: getattr(self, field) for field in CHANNEL_FIELDS[channel]}
        if channel == Channel.PUSH:
            content["data"] = dict(self.data)
        return content
