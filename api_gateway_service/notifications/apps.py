from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"

    def ready(self):
        from notification_common.metrics import register_scrape_collector
        from notifications.metrics import OUTBOX_COLLECTOR

        register_scrape_collector(OUTBOX_COLLECTOR)
