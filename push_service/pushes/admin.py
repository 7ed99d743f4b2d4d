from django.contrib import admin

from pushes.models import PushDeviceResult, PushNotification


class PushDeviceResultInline(admin.TabularInline):
    model = PushDeviceResult
    extra = 0
    can_delete = False
    fields = [
        "token",
        "status",
        "error_code",
        "error_message",
        "message_id",
        "attempts",
        "deactivated_at",
        "updated_at",
    ]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PushNotification)
class PushNotificationAdmin(admin.ModelAdmin):
    list_display = ["notification_id", "user_id", "template_code", "status", "attempts", "created_at", "updated_at"]
    list_filter = ["status", "template_code", "language"]
    search_fields = ["=notification_id", "=user_id", "template_code", "trace_id"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in PushNotification._meta.fields]
    inlines = [PushDeviceResultInline]

    def has_add_permission(self, request):
        return False  # deliveries are created by the consumer only


@admin.register(PushDeviceResult)
class PushDeviceResultAdmin(admin.ModelAdmin):
    list_display = ["token", "notification", "status", "error_code", "attempts", "updated_at"]
    list_filter = ["status", "error_code"]
    search_fields = ["=token", "=notification__notification_id"]
    raw_id_fields = ["notification"]
    readonly_fields = [field.name for field in PushDeviceResult._meta.fields]

    def has_add_permission(self, request):
        return False
