"""Settings of the email service (port 8003): the shared base plus what is its own.

Every variable is documented in .env.example at the repository root.
"""

from pathlib import Path

from notification_common.django_settings import service_settings

globals().update(
    service_settings(
        service="email_service",
        db_env="EMAIL_DATABASE_URL",
        db_name="email_db",
        base_dir=Path(__file__).resolve().parent.parent,
        local_apps=["emails"],
        health_checks=("database", "redis", "rabbitmq"),
        title="Email Service",
    )
)
