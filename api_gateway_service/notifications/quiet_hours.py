"""Quiet hours: when a user's daily quiet window ends, if a moment falls inside it.

Pure (no Django): the user service stores the window as local clock times in the user's IANA
zone; the gateway defers a non-urgent notification to the window's end (docs/api.md,
"Quiet hours"). The end is computed in local time and converted, so DST days are honoured.
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _clock(value: str) -> time:
    return time.fromisoformat(value)


def quiet_hours_end(*, moment: datetime, timezone_name: str | None, quiet_hours: dict | None) -> datetime | None:
    """The end (aware, UTC) of the quiet window ``moment`` falls in, or None when outside it.

    The window is [start, end) in local time and spans midnight when start > end
    ("22:00"-"07:00"). A user record without usable quiet hours is never deferred: the user
    service validates them, so anything else means "none" rather than an error here.
    """
    if not quiet_hours:
        return None
    try:
        zone = ZoneInfo(timezone_name or "UTC")
        start, end = _clock(quiet_hours["start"]), _clock(quiet_hours["end"])
    except (ZoneInfoNotFoundError, ValueError, KeyError, TypeError):
        return None
    if start == end:
        return None
    local = moment.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    # An end skipped by a spring-forward jump is read with the offset before it (fold=0):
    # 02:30 on such a night is 03:30 new time, still after the window.
    ends_at = datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)
    return ends_at if ends_at > moment else None
