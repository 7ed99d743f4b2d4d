from django.contrib import admin, messages

from notifications.models import NotificationRequest, OutboxMessage
from notifications.services import outbox_requeue


class OutboxInline(admin.StackedInline):
    model = OutboxMessage
    extra = 0
    can_delete = False
    readonly_fields = (
        "routing_key",
        "body",
        "headers",
        "priority",
        "created_at",
        "published_at",
        "attempts",
        "last_error",
    )


@admin.register(NotificationRequest)
class NotificationRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "notification_type", "user_id", "template_code", "status", "sender", "created_at")
    list_filter = ("notification_type", "status", "created_at")
    search_fields = ("=id", "=user_id", "sender", "idempotency_key", "template_code", "trace_id")
    readonly_fields = [field.name for field in NotificationRequest._meta.fields]
    date_hierarchy = "created_at"
    inlines = [OutboxInline]

    def has_add_permission(self, request):
        return False  # notifications enter through the API (validation, user check, outbox)


class PublishedFilter(admin.SimpleListFilter):
    title = "published"
    parameter_name = "published"

    def lookups(self, request, model_admin):
        return (("yes", "Published"), ("no", "Unpublished"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(published_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(published_at__isnull=True)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "notification_id", "routing_key", "created_at", "published_at", "attempts", "last_error")
    list_filter = (PublishedFilter, "routing_key")
    search_fields = ("=notification__id",)
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]
    actions = ["requeue"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Requeue: publish the selected messages again (via the relay)")
    def requeue(self, request, queryset):
        count = outbox_requeue(outbox_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} message(s) requeued; the relay publishes them shortly.", messages.SUCCESS)
