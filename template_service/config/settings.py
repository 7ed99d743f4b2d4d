"""Settings of the template service (port 8002): the shared base plus what is its own.

Every variable is documented in .env.example at the repository root.
"""

from pathlib import Path

from notification_common.django_settings import service_settings
from notification_common.env import env_int

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

# How long the active version of a template code is cached in Redis. Activations delete the
# entry at once; the TTL only bounds staleness if Redis missed an invalidation.
TEMPLATE_ACTIVE_CACHE_SECONDS = env_int("TEMPLATE_ACTIVE_CACHE_SECONDS", 300)
# Compiled immutable versions kept per process.
TEMPLATE_VERSION_LRU_SIZE = env_int("TEMPLATE_VERSION_LRU_SIZE", 1024)
