"""Settings of the template service (port 8002): the shared base plus what is its own.

Every variable is documented in .env.example at the repository root.
"""

from pathlib import Path

from notification_common.django_settings import service_settings

globals().update(
    service_settings(
        service="template_service",
        db_env="TEMPLATE_DATABASE_URL",
        db_name="template_db",
        base_dir=Path(__file__).resolve().parent.parent,
        local_apps=["message_templates"],
        health_checks=("database", "redis"),
        title="Template Service",
    )
)
