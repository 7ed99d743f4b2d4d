"""The Django admin site of the platform: the models plus the operations pages
(dashboard, users, templates), all behind the same staff login."""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpResponse
from django.urls import path, reverse

OPERATIONS_PAGES = (
    ("Dashboard", "platform_dashboard"),
    ("Users", "platform_users"),
    ("Templates", "platform_templates"),
    ("Parked outbox messages", "platform_outbox"),
    ("Message log", "platform_message_log"),
)


class PlatformAdminSite(admin.AdminSite):
    site_header = "Notification platform administration"
    site_title = "Notification admin"
    index_title = "Operations"

    def login(self, request, extra_context=None):
        # Password guesses through the login form are limited like the API's: the same
        # counters (per account and per client address), counted before the form is checked.
        if request.method != "POST":
            return super().login(request, extra_context)
        from notification_common.client_ip import client_ip
        from notification_common.exceptions import RateLimited
        from notification_common.login_limits import login_attempt_admit

        try:
            attempt = login_attempt_admit(
                scope="admin",
                account=(request.POST.get("username") or "").strip().lower(),
                address=client_ip(request),
                account_limit=settings.ADMIN_LOGIN_ATTEMPTS_PER_ACCOUNT,
                address_limit=settings.ADMIN_LOGIN_ATTEMPTS_PER_IP,
                window_seconds=settings.ADMIN_LOGIN_WINDOW_SECONDS,
            )
        except RateLimited as refused:
            response = HttpResponse("Too many login attempts; try again later.", status=429)
            response["Retry-After"] = refused.headers["Retry-After"]
            return response
        response = super().login(request, extra_context)
        if response.status_code == 302 and request.user.is_authenticated:
            attempt.succeeded()
        return response

    def get_urls(self):
        from platform_admin import admin_views, message_log_views, outbox_admin_views

        pages = [
            path("operations/dashboard/", admin_views.dashboard_view, name="platform_dashboard"),
            path("operations/users/", admin_views.user_list_view, name="platform_users"),
            path("operations/users/<str:user_id>/", admin_views.user_detail_view, name="platform_user_detail"),
            path("operations/templates/", admin_views.template_list_view, name="platform_templates"),
            path("operations/templates/new/", admin_views.template_create_view, name="platform_template_create"),
            path("operations/templates/<str:code>/", admin_views.template_detail_view, name="platform_template_detail"),
            path("operations/outbox/", outbox_admin_views.outbox_parked_view, name="platform_outbox"),
            path("operations/messages/", message_log_views.message_log_view, name="platform_message_log"),
            path(
                "operations/messages/<uuid:notification_id>/",
                message_log_views.message_timeline_view,
                name="platform_message_timeline",
            ),
        ]
        # admin_view(): staff only; anyone else is sent to the login page.
        wrapped = [path(str(p.pattern), self.admin_view(p.callback), name=p.name) for p in pages]
        return wrapped + super().get_urls()

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        if app_label is None and request.user.is_active and request.user.is_staff:
            models = [
                {
                    "name": title,
                    "object_name": url_name,
                    "admin_url": reverse(f"{self.name}:{url_name}"),
                    "add_url": None,
                    "view_only": True,
                    "perms": {"view": True},
                }
                for title, url_name in OPERATIONS_PAGES
            ]
            app_list.insert(
                0,
                {
                    "name": "Operations",
                    "app_label": "operations",
                    "app_url": reverse(f"{self.name}:platform_dashboard"),
                    "has_module_perms": True,
                    "models": models,
                },
            )
        return app_list


class PlatformAdminSiteConfig(AdminConfig):
    """django.contrib.admin with the site above (INSTALLED_APPS in config/settings.py)."""

    default_site = "platform_admin.admin_site.PlatformAdminSite"
