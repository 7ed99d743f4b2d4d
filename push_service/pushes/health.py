"""Health check of the push consumer (listed in config/settings.py ``health_extra_checks``)."""

from django.conf import settings

from .heartbeat import heartbeat_age_seconds


def check_consumer() -> dict:
    """Down when no ``consume_push`` process has beaten recently: pushes would not move."""
    age = heartbeat_age_seconds()
    max_age = settings.PUSH_SERVICE["HEARTBEAT_MAX_AGE_SECONDS"]
    if age is None:
        return {"status": "down", "heartbeat_age_seconds": None, "error": "no consumer heartbeat"}
    status = "up" if age <= max_age else "down"
    result = {"status": status, "heartbeat_age_seconds": age}
    if status == "down":
        result["error"] = f"last consumer heartbeat {age:.0f}s ago (limit {max_age}s)"
    return result
