from django.apps import AppConfig


class EmailsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "emails"

    def ready(self) -> None:
        from functools import partial

        from emails.constants import EMAIL_QUEUE, HEARTBEAT_KEY
        from notification_common.heartbeat import heartbeat_read
        from notification_common.metrics import register_scrape_collector
        from notification_common.rabbitmq.consumer_metrics import ConsumerStateCollector

        # The consumer is another process: its paused state and oldest message reach
        # /metrics through its Redis heartbeat.
        register_scrape_collector(ConsumerStateCollector(EMAIL_QUEUE, partial(heartbeat_read, HEARTBEAT_KEY)))
