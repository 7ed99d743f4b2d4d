"""Django admin: browse templates and versions; version content is read-only, activation is an action.

Changes go through the services, so the immutability of versions and the cache invalidation
hold here too. New templates and versions are made through the API or ``load_templates``.
"""

from django.contrib import admin, messages
from django.db.models import Count

from message_templates import services
from message_templates.models import Category, Template, TemplateVersion
from notification_common.exceptions import ApplicationError

VERSION_CONTENT_FIELDS = (
    "subject",
    "text_body",
    "html_body",
    "title",
    "body",
    "image_url",
    "data",
    "variables",
)


class TemplateVersionInline(admin.TabularInline):
    model = TemplateVersion
    fields = ("language", "version", "is_active", "variables", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("language", "-version")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "channel",
        "default_language",
        "version_count",
        "category",
        "user_triggerable",
        "is_deleted",
        "updated_at",
    )
    list_filter = ("channel", "category", "is_deleted", "default_language")
    search_fields = ("code", "description")
    fields = (
        "id",
        "code",
        "channel",
        "default_language",
        "description",
        "category",
        "user_triggerable",
        "is_deleted",
        "deleted_at",
        "created_at",
    )
    readonly_fields = ("id", "code", "channel", "default_language", "is_deleted", "deleted_at", "created_at")
    inlines = [TemplateVersionInline]
    actions = ["soft_delete"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_version_count=Count("versions"))

    @admin.display(description="versions", ordering="_version_count")
    def version_count(self, obj) -> int:
        return obj._version_count

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # soft delete only, through the action

    def save_model(self, request, obj, form, change):
        # Only what is not versioned is editable here.
        services.template_update(
            template=obj,
            description=form.cleaned_data["description"],
            user_triggerable=form.cleaned_data["user_triggerable"],
            category=form.cleaned_data["category"].code,
        )

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Soft-delete selected templates", permissions=["change"])
    def soft_delete(self, request, queryset):
        deleted = 0
        for template in queryset.filter(is_deleted=False):
            services.template_delete(template=template)
            deleted += 1
        self.message_user(request, f"{deleted} template(s) deleted.", messages.SUCCESS)


@admin.register(TemplateVersion)
class TemplateVersionAdmin(admin.ModelAdmin):
    list_display = ("template", "language", "version", "is_active", "created_at")
    list_filter = ("is_active", "language", "template__channel")
    search_fields = ("template__code",)
    list_select_related = ("template",)
    ordering = ("template__code", "language", "-version")
    fields = ("id", "template", "language", "version", "is_active", *VERSION_CONTENT_FIELDS, "created_at")
    readonly_fields = fields
    actions = ["activate"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Versions are immutable: the change page only shows them.
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Activate selected versions (one per template and language)")
    def activate(self, request, queryset):
        activated = []
        for version in queryset.select_related("template").order_by("created_at"):
            try:
                services.template_version_activate(
                    template=version.template, language=version.language, version=version.version
                )
            except ApplicationError as exc:  # e.g. the template was deleted
                self.message_user(request, f"{version}: {exc.message}", messages.ERROR)
                continue
            activated.append(str(version))
        if activated:
            self.message_user(request, f"Activated: {', '.join(activated)}.", messages.SUCCESS)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "required")
    list_filter = ("required",)
    search_fields = ("code", "name")

    def get_readonly_fields(self, request, obj=None):
        # Templates, preferences and unsubscribe tokens name a category by code: never renamed.
        return ("code",) if obj else ()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
