from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PlatformAdminConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "platform_admin"
    verbose_name = "Platform administration"

    def ready(self) -> None:
        from platform_admin.services import api_key_register_bootstrap_after_migrate

        # Bootstrap keys enter the database after every migrate (and by their own command);
        # never in ready(), which also runs for commands that have no database.
        post_migrate.connect(api_key_register_bootstrap_after_migrate, sender=self)
