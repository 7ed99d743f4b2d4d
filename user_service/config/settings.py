"""Settings of the user service (port 8001): the shared base plus what is its own.

Every variable is documented in .env.example at the repository root.
"""

from pathlib import Path

from notification_common.django_settings import service_settings

globals().update(
    service_settings(
        service="user_service",
        db_env="USER_DATABASE_URL",
        db_name="user_db",
        base_dir=Path(__file__).resolve().parent.parent,
        local_apps=["users"],
        health_checks=("database", "redis"),
        title="User Service",
    )
)
