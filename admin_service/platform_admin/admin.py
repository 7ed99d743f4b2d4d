from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from notification_common.api_keys import Scope
from notification_common.client_ip import client_ip
from notification_common.exceptions import ApplicationError
from platform_admin import services
from platform_admin.forms import ApiKeyCreateForm
from platform_admin.models import ApiKey, AuditEntry, DeadLetter
from platform_admin.selectors import api_key_last_used, api_key_pending_usage


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by services only; the admin shows them and runs actions."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "scopes", "status", "is_bootstrap", "created_at", "last_used", "revoked_at")
    list_filter = ("is_bootstrap", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix")
    actions = ["revoke_selected"]
    readonly_fields = (
        "id",
        "name",
        "prefix",
        "scopes",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "is_bootstrap",
    )

    def get_changelist_instance(self, request):
        self._pending_usage = api_key_pending_usage()
        return super().get_changelist_instance(request)

    @admin.display(description="last used")
    def last_used(self, obj):
        return api_key_last_used(obj, getattr(self, "_pending_usage", {}))

    @admin.display(description="status")
    def status(self, obj):
        if obj.revoked_at:
            return "revoked"
        if obj.expires_at and obj.expires_at <= timezone.now():
            return "expired"
        return "active"

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            if request.user.is_superuser:
                return ApiKeyCreateForm
            # Only superusers mint internal keys (services.api_key_create enforces it too).
            choices = [(scope, scope) for scope in Scope.ALL if scope != Scope.INTERNAL]
            scopes = forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple)
            return type("StaffApiKeyCreateForm", (ApiKeyCreateForm,), {"scopes": scopes})
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["name", "scopes", "expires_at"]})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row is the record that the key existed

    def save_form(self, request, form, change):
        return form

    def save_model(self, request, obj, form, change):
        api_key, raw = services.api_key_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.cleaned_data.get("expires_at"),
            created_by=request.user,
            ip=client_ip(request),
        )
        self._created = api_key
        messages.warning(request, f"API key {api_key.name}: {raw} — copy it now, it is not shown again.")

    def save_related(self, request, form, formsets, change):
        return None  # api_key_create in save_model already stored everything; no inlines or m2m

    def response_add(self, request, obj, post_url_continue=None):
        return super().response_add(request, self._created, post_url_continue)

    def log_addition(self, request, obj, message):
        return super().log_addition(request, self._created, message)

    @admin.action(description="Revoke selected API keys")
    def revoke_selected(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key, actor=request.user, ip=client_ip(request))
        messages.success(request, f"{queryset.count()} key(s) revoked.")


class ReplayedFilter(admin.SimpleListFilter):
    title = "replayed"
    parameter_name = "replayed"

    def lookups(self, request, model_admin):
        return [("no", "Not replayed"), ("yes", "Replayed")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(replayed_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(replayed_at__isnull=False)
        return queryset


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "channel",
        "notification_id",
        "failure_kind",
        "short_reason",
        "attempts",
        "replayed_at",
        "replay_count",
        "stored_reduced",
    )
    # stored_reduced: could not be stored as it came (store_error says why; docs/admin_service.md).
    list_filter = ("channel", "failure_kind", ReplayedFilter, "stored_reduced")
    search_fields = ("reason", "notification_id", "message_id")
    actions = ["replay_selected"]
    readonly_fields = [f.name for f in DeadLetter._meta.fields]

    @admin.display(description="reason")
    def short_reason(self, obj):
        return obj.reason[:100]

    def has_view_permission(self, request, obj=None):
        # The detail page is a view: a dead letter is a record and cannot change, so Django
        # shows no Save buttons (change permission stays off, from ReadOnlyAdmin).
        return request.user.is_active and request.user.is_staff

    @admin.action(description="Replay selected dead letters")
    def replay_selected(self, request, queryset):
        try:
            outcome = services.dead_letters_replay(
                ids=list(queryset.values_list("pk", flat=True)), actor=request.user, ip=client_ip(request)
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return
        messages.success(request, f"{len(outcome['replayed'])} replayed.")
        if outcome["already_replayed"]:
            messages.warning(request, f"{len(outcome['already_replayed'])} were already replayed.")
        if outcome["failed"]:
            messages.error(request, f"{len(outcome['failed'])} could not be replayed.")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "action", "target", "ip")
    list_filter = ("action",)
    search_fields = ("actor", "target")
    date_hierarchy = "created_at"
    readonly_fields = ("id", "actor", "action", "target", "details", "ip", "created_at")

    def has_change_permission(self, request, obj=None):
        return obj is not None and request.user.is_staff
