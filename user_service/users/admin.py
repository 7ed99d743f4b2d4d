from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm

from users import services
from users.models import Device, NotificationLog, NotificationStatusEvent, Preferences, User, normalize_email


class UserAdminCreationForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ["email", "name"]

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


class UserAdminChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


class PreferencesInline(admin.StackedInline):
    model = Preferences
    can_delete = False


class DeviceInline(admin.TabularInline):
    model = Device
    extra = 0
    fields = ["token", "platform", "name", "active", "last_seen", "deactivation_reason"]
    readonly_fields = ["last_seen"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["-created_at"]
    list_display = ["email", "name", "is_active", "is_staff", "created_at"]
    list_filter = ["is_active", "is_staff", "created_at"]
    search_fields = ["email", "name", "id"]
    readonly_fields = ["id", "created_at", "updated_at", "last_login", "password_changed_at"]
    inlines = [PreferencesInline, DeviceInline]
    fieldsets = [
        (None, {"fields": ["id", "email", "name", "password"]}),
        ("Status", {"fields": ["is_active", "is_staff", "is_superuser"]}),
        ("Dates", {"fields": ["created_at", "updated_at", "last_login", "password_changed_at"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2"]})]
    form = UserAdminChangeForm
    add_form = UserAdminCreationForm
    filter_horizontal = []

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        Preferences.objects.get_or_create(user=obj)
        if change and "is_active" in form.changed_data:
            # Through the same service as the API, so tokens and cached copies follow at once.
            services.user_set_active(user_id=obj.id, active=obj.is_active)


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["token_preview", "user", "platform", "name", "active", "last_seen"]
    list_filter = ["platform", "active"]
    search_fields = ["token", "user__email", "name"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["id", "created_at", "updated_at"]

    @admin.display(description="token")
    def token_preview(self, device: Device) -> str:
        return device.token[:24] + ("…" if len(device.token) > 24 else "")


class StatusEventInline(admin.TabularInline):
    model = NotificationStatusEvent
    extra = 0
    can_delete = False
    fields = ["status", "timestamp", "error", "attempt", "received_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(NotificationLog)
class NotificationLogAdmin(admin.ModelAdmin):
    list_display = ["notification_id", "user_id", "channel", "status", "attempts", "last_timestamp", "updated_at"]
    list_filter = ["channel", "status", "updated_at"]
    search_fields = ["notification_id", "user_id", "error"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in NotificationLog._meta.fields]
    inlines = [StatusEventInline]

    def has_add_permission(self, request) -> bool:
        # Rows come from the workers' status reports only.
        return False
