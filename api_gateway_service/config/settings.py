"""Settings of the api gateway (port 8000): the shared base plus what is its own.

Every variable is documented in .env.example at the repository root.
"""

from pathlib import Path

from notification_common.django_settings import service_settings

globals().update(
    service_settings(
        service="api_gateway_service",
        db_env="GATEWAY_DATABASE_URL",
        db_name="api_gateway_db",
        base_dir=Path(__file__).resolve().parent.parent,
        local_apps=["notifications"],
        health_checks=("database", "redis", "rabbitmq"),
        title="API Gateway",
    )
)
