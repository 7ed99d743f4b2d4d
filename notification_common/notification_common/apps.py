"""The shared library as a Django app: it has no models, only the system checks it registers."""

from django.apps import AppConfig


class NotificationCommonConfig(AppConfig):
    name = "notification_common"
    verbose_name = "Notification platform (shared)"

    def ready(self) -> None:
        from notification_common import checks  # noqa: F401 - registers the production checks
