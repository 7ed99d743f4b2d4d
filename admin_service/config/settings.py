"""Settings of the admin service (port 8005): the shared base plus what is its own.

Every variable is documented in .env.example at the repository root.
"""

from pathlib import Path

from notification_common.django_settings import service_settings

globals().update(
    service_settings(
        service="admin_service",
        db_env="ADMIN_DATABASE_URL",
        db_name="admin_db",
        base_dir=Path(__file__).resolve().parent.parent,
        local_apps=["platform_admin"],
        health_checks=("database", "redis", "rabbitmq"),
        title="Admin Service",
    )
)
