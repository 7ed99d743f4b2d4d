from django.contrib import admin

from emails.models import EmailAttempt, EmailNotification


class EmailAttemptInline(admin.TabularInline):
    model = EmailAttempt
    extra = 0
    can_delete = False
    fields = ["attempt_number", "queue_attempt", "outcome", "stage", "smtp_code", "duration_ms", "error", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(EmailNotification)
class EmailNotificationAdmin(admin.ModelAdmin):
    list_display = ["notification_id", "recipient", "template_code", "status", "attempts", "sent_at", "created_at"]
    list_filter = ["status", "template_code", "reported_status"]
    search_fields = ["notification_id", "recipient", "user_id", "trace_id"]
    date_hierarchy = "created_at"
    readonly_fields = ["id", "notification_id", "message_id", "claimed_at", "sent_at", "created_at", "updated_at"]
    inlines = [EmailAttemptInline]


@admin.register(EmailAttempt)
class EmailAttemptAdmin(admin.ModelAdmin):
    list_display = ["delivery", "attempt_number", "outcome", "stage", "smtp_code", "duration_ms", "created_at"]
    list_filter = ["outcome", "stage"]
    search_fields = ["delivery__notification_id", "delivery__recipient", "error"]
    list_select_related = ["delivery"]
    raw_id_fields = ["delivery"]
