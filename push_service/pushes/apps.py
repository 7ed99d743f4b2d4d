from django.apps import AppConfig


class PushesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pushes"

    def ready(self) -> None:
        from notification_common.metrics import register_scrape_collector
        from notification_common.rabbitmq import PUSH_QUEUE
        from notification_common.rabbitmq.consumer_metrics import ConsumerStateCollector
        from pushes.heartbeat import heartbeat_read

        # The consumer is another process: its paused state and oldest message reach
        # /metrics through its Redis heartbeat.
        register_scrape_collector(ConsumerStateCollector(PUSH_QUEUE, heartbeat_read))
