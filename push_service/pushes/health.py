"""Health check of the push consumer (listed in config/settings.py ``health_extra_checks``)."""

from django.conf import settings

from notification_common.heartbeat import heartbeat_read
from pushes.constants import HEARTBEAT_KEY


def check_consumer() -> dict:
    """Down when no ``consume_push`` process has beaten recently: pushes would not move.

    A consumer paused on an open circuit (FCM, template service) is "up" with
    ``"paused": true``: it is alive and doing the right thing (holding messages in the queue
    instead of spending their retries), so a 503 would only get a working process restarted;
    the outage shows in /metrics and in the paused fields here.
    """
    beat = heartbeat_read(HEARTBEAT_KEY)
    max_age = settings.PUSH_SERVICE["HEARTBEAT_MAX_AGE_SECONDS"]
    if beat is None:
        return {"status": "down", "heartbeat_age_seconds": None, "error": "no consumer heartbeat"}
    age = beat["age_seconds"]
    status = "up" if age <= max_age else "down"
    result = {
        "status": status,
        "heartbeat_age_seconds": age,
        "paused": bool(beat.get("paused")),
        "oldest_message_age_seconds": beat.get("oldest_message_age_seconds"),
    }
    if result["paused"]:
        result["paused_on"] = beat.get("dependency")
        result["retry_in_seconds"] = beat.get("retry_in_seconds")
    if status == "down":
        result["error"] = f"last consumer heartbeat {age:.0f}s ago (limit {max_age}s)"
    return result
