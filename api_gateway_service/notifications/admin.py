from django.contrib import admin, messages
from django.db.models import Q
from django.utils import timezone

from notification_common.exceptions import ApplicationError
from notifications.models import NotificationRequest, OutboxMessage, OutboxStatus
from notifications.services.outbox_replay import outbox_replay, outbox_requeue


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
        "failed_attempts",
        "last_error",
        "next_attempt_at",
        "parked_at",
        "replayed_at",
        "replay_count",
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


class OutboxStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return OutboxStatus.choices

    def queryset(self, request, queryset):
        if self.value() == OutboxStatus.PUBLISHED:
            return queryset.filter(published_at__isnull=False)
        unpublished = queryset.filter(published_at__isnull=True, parked_at__isnull=True, cancelled_at__isnull=True)
        if self.value() == OutboxStatus.PENDING:
            return unpublished.filter(Q(due_at__isnull=True) | Q(due_at__lte=timezone.now()))
        if self.value() == OutboxStatus.SCHEDULED:
            return unpublished.filter(due_at__gt=timezone.now())
        if self.value() == OutboxStatus.CANCELLED:
            return queryset.filter(cancelled_at__isnull=False)
        if self.value() == OutboxStatus.PARKED:
            return queryset.filter(parked_at__isnull=False, cancelled_at__isnull=True)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "notification_id",
        "routing_key",
        "status",
        "created_at",
        "published_at",
        "parked_at",
        "attempts",
        "failed_attempts",
        "last_error",
    )
    list_filter = (OutboxStatusFilter, "routing_key")
    search_fields = ("=notification__id",)
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]
    actions = ["requeue", "replay_parked"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Requeue: publish the selected messages again (via the relay)")
    def requeue(self, request, queryset):
        count = outbox_requeue(outbox_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} message(s) requeued; the relay publishes them shortly.", messages.SUCCESS)

    @admin.action(description="Replay: give the selected parked messages back to the relay (once)")
    def replay_parked(self, request, queryset):
        replayed, refused = 0, []
        for notification_id in queryset.values_list("notification_id", flat=True):
            try:
                outbox_replay(notification_id=notification_id)
            except ApplicationError as exc:
                refused.append(f"{notification_id}: {exc.message}")
            else:
                replayed += 1
        if replayed:
            self.message_user(request, f"{replayed} parked message(s) replayed.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)
