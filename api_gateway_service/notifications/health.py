"""The outbox check of GET /api/v1/health/ (listed in config/settings.py)."""

from django.conf import settings

from notifications.selectors import outbox_backlog


def check_outbox() -> dict:
    """Backlog and oldest unpublished age; "down" only when the relay is evidently stuck."""
    backlog = outbox_backlog()
    stale = backlog["oldest_age_seconds"] > settings.OUTBOX_STALE_SECONDS
    return {"status": "down" if stale else "up", **backlog, "stale_after_seconds": settings.OUTBOX_STALE_SECONDS}
