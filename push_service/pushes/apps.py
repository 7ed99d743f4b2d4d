from django.apps import AppConfig


class PushesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pushes"

    def ready(self) -> None:
        from functools import partial

        from notification_common.heartbeat import heartbeat_read
        from notification_common.metrics import register_scrape_collector
        from notification_common.rabbitmq import PUSH_QUEUE
        from notification_common.rabbitmq.consumer_metrics import ConsumerStateCollector
        from pushes.constants import HEARTBEAT_KEY

        # The consumer is another process: its paused state and oldest message reach
        # /metrics through its Redis heartbeat.
        register_scrape_collector(ConsumerStateCollector(PUSH_QUEUE, partial(heartbeat_read, HEARTBEAT_KEY)))
