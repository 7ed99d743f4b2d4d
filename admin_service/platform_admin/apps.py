from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_migrate
from django.urls import reverse

from notification_common.client_ip import client_ip


def _is_admin_site_login(request) -> bool:
    # The API login does not go through django.contrib.auth's login(); only the form does.
    # (Client.force_login in tests sends a request with no path: not audited.)
    return request is not None and request.path == reverse("admin:login")


def _audit_admin_site_login(sender, request, user, **kwargs) -> None:
    from platform_admin.services import admin_site_login_audit

    if _is_admin_site_login(request):
        admin_site_login_audit(
            username=user.get_username(), succeeded=True, ip=client_ip(request), target=f"admin:{user.pk}"
        )


def _audit_admin_site_login_failure(sender, credentials, request=None, **kwargs) -> None:
    from platform_admin.services import admin_site_login_audit

    if _is_admin_site_login(request):
        admin_site_login_audit(username=credentials.get("username", ""), succeeded=False, ip=client_ip(request))


class PlatformAdminConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "platform_admin"
    verbose_name = "Platform administration"

    def ready(self) -> None:
        from platform_admin.services import api_key_register_bootstrap_after_migrate

        # Bootstrap keys enter the database after every migrate (and by their own command);
        # never in ready(), which also runs for commands that have no database.
        post_migrate.connect(api_key_register_bootstrap_after_migrate, sender=self)
        user_logged_in.connect(_audit_admin_site_login, dispatch_uid="platform_admin.audit_login")
        user_login_failed.connect(_audit_admin_site_login_failure, dispatch_uid="platform_admin.audit_login_failed")
