"""A minimal Django project for the shared library's own tests."""

from pathlib import Path

from notification_common.django_settings import service_settings

globals().update(
    service_settings(
        service="common_tests",
        db_env="COMMON_TEST_DATABASE_URL",
        db_name="postgres",
        base_dir=Path(__file__).resolve().parent,
        local_apps=["tests"],
        health_checks=("database", "redis", "rabbitmq"),
    )
)
DATABASES["default"].update(USER="postgres", PASSWORD="")  # noqa: F821 (set by globals().update)
ROOT_URLCONF = "tests.urls"
MIDDLEWARE = [*MIDDLEWARE, "tests.outage_views.DatabaseTouchingMiddleware"]  # noqa: F821 (test_outages.py)
