"""Settings of the push service (port 8004): the shared base plus what is its own.

Every variable is documented in .env.example at the repository root.
"""

from pathlib import Path

from notification_common.django_settings import service_settings

globals().update(
    service_settings(
        service="push_service",
        db_env="PUSH_DATABASE_URL",
        db_name="push_db",
        base_dir=Path(__file__).resolve().parent.parent,
        local_apps=["pushes"],
        health_checks=("database", "redis", "rabbitmq"),
        title="Push Service",
    )
)
