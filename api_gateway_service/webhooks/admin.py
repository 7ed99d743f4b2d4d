from django.contrib import admin

from webhooks.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("id", "sender", "url", "events", "created_at")
    search_fields = ("sender", "url")
    exclude = ("secret",)  # a signing key: never shown after creation


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "endpoint",
        "event",
        "notification_id",
        "state",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    )
    list_filter = ("state", "event")
    search_fields = ("notification_id",)
    readonly_fields = ("payload", "history")
