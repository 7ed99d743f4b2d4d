"""Reads of the webhooks app: a sender sees only its own endpoints and their deliveries."""

from django.db.models import QuerySet

from notification_common.exceptions import NotFound
from webhooks.models import WebhookDelivery, WebhookEndpoint


def webhook_list(*, sender: str) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(sender=sender).order_by("-created_at", "id")


def webhook_get_for_sender(*, webhook_id, sender: str) -> WebhookEndpoint:
    # Another sender's endpoint is "not found", not "forbidden": its existence is not shown.
    endpoint = WebhookEndpoint.objects.filter(id=webhook_id, sender=sender).first()
    if endpoint is None:
        raise NotFound(f"Webhook {webhook_id} does not exist.")
    return endpoint


def webhook_delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "id")


def webhook_delivery_list_for_notification(*, notification_id) -> QuerySet[WebhookDelivery]:
    """Every endpoint's delivery of one notification's events (the operators' timeline)."""
    return (
        WebhookDelivery.objects.filter(notification_id=notification_id)
        .select_related("endpoint")
        .order_by("created_at", "id")
    )
