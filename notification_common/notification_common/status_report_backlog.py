"""The read side of the status reports' backlog: what the HTTP process shows of its workers.

Each worker's ``StatusReporter`` (status_reports.py) publishes its backlog (pending count, age
of the oldest, rejected and dropped counts) to Redis under ``BACKLOG_KEY_PREFIX``; the HTTP
process sums the live workers' keys for its health check and /metrics (docs/operations.md,
"Outages"). Workers write, the HTTP process reads: two topics, two modules.
"""

import json
import time

# A worker's backlog lives at f"{BACKLOG_KEY_PREFIX}:{channel}:{host}:{pid}" (expires when it dies).
BACKLOG_KEY_PREFIX = "status_reports:backlog"


def status_report_backlog(channel: str, *, now: float | None = None) -> dict:
    """The backlog of every live worker of one channel, summed (from Redis; raises on Redis errors)."""
    from notification_common.redis_client import get_redis

    client = get_redis()
    keys = list(client.scan_iter(match=f"{BACKLOG_KEY_PREFIX}:{channel}:*", count=100))
    total = {"workers": 0, "pending": 0, "oldest_pending_seconds": 0.0, "rejected": 0, "dropped": 0}
    now = time.time() if now is None else now
    for raw in client.mget(keys) if keys else []:
        if raw is None:
            continue
        try:
            state = json.loads(raw)
        except ValueError:
            continue
        total["workers"] += 1
        total["pending"] += int(state.get("pending") or 0)
        total["rejected"] += int(state.get("rejected") or 0)
        total["dropped"] += int(state.get("dropped") or 0)
        since = state.get("oldest_pending_since")
        if since is not None:
            total["oldest_pending_seconds"] = max(total["oldest_pending_seconds"], round(max(0.0, now - since), 3))
    return total


def check_status_reports() -> dict:
    """Health: ``degraded`` while a worker's reports have waited longer than STATUS_REPORT_STUCK_SECONDS."""
    from notification_common.conf import common_settings

    threshold = common_settings.STATUS_REPORT_STUCK_SECONDS
    result: dict = {"status": "up", "stuck_after_seconds": threshold}
    stuck = []
    for channel in common_settings.STATUS_REPORT_CHANNELS:
        backlog = status_report_backlog(channel)
        result[channel] = backlog
        if backlog["pending"] and backlog["oldest_pending_seconds"] > threshold:
            age = backlog["oldest_pending_seconds"]
            stuck.append(f"{backlog['pending']} {channel} reports pending, oldest {age:.0f}s")
    if stuck:
        result["status"] = "degraded"
        result["warning"] = "; ".join(stuck)
    return result


check_status_reports.check_name = "status_reports"


class StatusReportBacklogCollector:
    """/metrics: the workers' unacknowledged status reports per channel, read from Redis at scrape time."""

    def describe(self):
        return []  # registering must not read Redis

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from notification_common.conf import common_settings

        channels = common_settings.STATUS_REPORT_CHANNELS
        if not channels:
            return
        pending = GaugeMetricFamily(
            "status_reports_pending", "Status reports not yet acknowledged by the user service", labels=["channel"]
        )
        oldest = GaugeMetricFamily(
            "status_reports_oldest_pending_seconds",
            "Age of the oldest status report not yet acknowledged by the user service",
            labels=["channel"],
        )
        rejected = GaugeMetricFamily(
            "status_reports_rejected",
            "Status reports the user service rejected, since each worker started",
            labels=["channel"],
        )
        for channel in channels:
            try:
                backlog = status_report_backlog(channel)
            except Exception:  # noqa: BLE001 - Redis down: health says so, and the scrape still answers
                continue
            pending.add_metric([channel], backlog["pending"])
            oldest.add_metric([channel], backlog["oldest_pending_seconds"])
            rejected.add_metric([channel], backlog["rejected"])
        yield from (pending, oldest, rejected)
