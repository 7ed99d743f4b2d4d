"""The operations dashboard: every figure gathered in parallel, each source optional.

Each service is asked with a short timeout and no retries; whatever does not answer is
shown as down and its figures as null, so the dashboard itself never fails.
"""

import contextvars
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime

from django.conf import settings

from notification_common.conf import common_settings
from notification_common.health import run_checks
from notification_common.rabbitmq import (
    EMAIL_QUEUE,
    FAILED_PARKED_QUEUE,
    FAILED_QUEUE,
    PUSH_QUEUE,
    queue_depths_from_url,
)
from platform_admin import clients
from platform_admin.selectors import dead_letter_counts

logger = logging.getLogger(__name__)

SELF = "admin_service"
WINDOWS = ("last_hour", "last_day", "total")
SUCCESS_STATUSES = ("delivered",)
FAILURE_STATUSES = ("failed",)
CHANNEL_SOURCES = {
    "email": ("email_service", "EMAIL_SERVICE_URL", clients.EMAIL_STATS_PATH),
    "push": ("push_service", "PUSH_SERVICE_URL", clients.PUSH_STATS_PATH),
}


def _error_text(exc: BaseException) -> str:
    return (getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")[:300]


def _health(name: str, base_url: str) -> dict:
    started = time.perf_counter()
    try:
        data = clients.health_fetch(name=name, base_url=base_url)
    except Exception as exc:  # down, slow or answering nonsense: all shown as down
        return {"status": "down", "url": base_url, "error": _error_text(exc), "checks": None, "latency_ms": None}
    return {
        "status": "up" if data.get("status") == "up" else "down",
        "url": base_url,
        "error": None,
        "checks": data.get("checks"),
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _self_health() -> dict:
    started = time.perf_counter()
    checks = run_checks()
    return {
        "status": "up" if all(check["status"] == "up" for check in checks.values()) else "down",
        "url": common_settings.ADMIN_SERVICE_URL,
        "error": None,
        "checks": checks,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _rate(counts: dict) -> float | None:
    succeeded = sum(int(counts.get(name) or 0) for name in SUCCESS_STATUSES)
    failed = sum(int(counts.get(name) or 0) for name in FAILURE_STATUSES)
    return round(succeeded / (succeeded + failed), 4) if succeeded + failed else None


def _merge_counts(*maps: dict | None) -> dict:
    merged: dict[str, int] = {}
    for counts in maps:
        for name, value in (counts or {}).items():
            merged[name] = merged.get(name, 0) + int(value or 0)
    return merged


class _Gather:
    """Runs the calls in a thread pool; ``result(name)`` is (value, error)."""

    def __init__(self, budget_seconds: float):
        self.pool = ThreadPoolExecutor(max_workers=12, thread_name_prefix="dashboard")
        self.futures: dict = {}
        self.deadline = time.monotonic() + budget_seconds

    def submit(self, label: str, func, /, *args, **kwargs) -> None:
        # Each call runs in a copy of this context: the request id follows the outbound calls.
        self.futures[label] = self.pool.submit(contextvars.copy_context().run, func, *args, **kwargs)

    def result(self, label: str):
        try:
            return self.futures[label].result(timeout=max(0.0, self.deadline - time.monotonic())), None
        except FutureTimeout:
            return None, "no answer in time"
        except Exception as exc:  # every failure becomes a null figure with its reason
            return None, _error_text(exc)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def dashboard_collect() -> dict:
    targets = clients.monitored_services()
    gather = _Gather(budget_seconds=settings.DASHBOARD_TIMEOUT_SECONDS * 2 + 1)
    try:
        for name, url in targets.items():
            if name != SELF:
                gather.submit(f"health:{name}", _health, name, url)
        gather.submit(
            "stats:gateway",
            clients.stats_fetch,
            name="api_gateway_service",
            base_url=settings.GATEWAY_SERVICE_URL,
            path=clients.GATEWAY_STATS_PATH,
        )
        for channel, (name, url_setting, path) in CHANNEL_SOURCES.items():
            gather.submit(
                f"stats:{channel}", clients.stats_fetch, name=name, base_url=getattr(settings, url_setting), path=path
            )
        gather.submit(
            "stats:users",
            clients.stats_fetch,
            name="user_service",
            base_url=settings.USER_SERVICE_URL,
            path=clients.USER_STATS_PATH,
        )
        gather.submit("queues", queue_depths_from_url, common_settings.RABBITMQ_URL)

        # The database is used from this thread only (connections are per thread).
        services = {SELF: _self_health()}
        try:
            stored_dead_letters, dead_letters_error = dead_letter_counts(), None
        except Exception as exc:
            stored_dead_letters, dead_letters_error = None, _error_text(exc)

        for name in targets:
            if name != SELF:
                services[name], _ = gather.result(f"health:{name}")
        depths, queues_error = gather.result("queues")
        gateway, gateway_error = gather.result("stats:gateway")
        users, users_error = gather.result("stats:users")
        channel_stats = {channel: gather.result(f"stats:{channel}") for channel in CHANNEL_SOURCES}
    finally:
        gather.close()

    by_channel = {channel: (stats or {}).get("by_status") for channel, (stats, _) in channel_stats.items()}
    by_status = {
        window: _merge_counts(*((counts or {}).get(window) for counts in by_channel.values())) for window in WINDOWS
    }
    success_rate = {window: _rate(by_status[window]) for window in WINDOWS}
    success_rate["by_channel"] = {
        channel: ({window: _rate(counts.get(window) or {}) for window in WINDOWS} if counts else None)
        for channel, counts in by_channel.items()
    }

    def consumers(queue: str) -> int | None:
        return depths[queue]["consumers"] if depths and queue in depths else None

    workers = {
        channel: {
            "consumers": consumers(queue),
            "heartbeat_age_seconds": ((stats or {}).get("consumer") or {}).get("heartbeat_age_seconds"),
        }
        for channel, queue, (stats, _) in (
            ("email", EMAIL_QUEUE, channel_stats["email"]),
            ("push", PUSH_QUEUE, channel_stats["push"]),
        )
    }
    workers["dead_letters"] = {"consumers": consumers(FAILED_QUEUE), "heartbeat_age_seconds": None}

    everything_up = all(service["status"] == "up" for service in services.values()) and depths is not None
    return {
        "status": "ok" if everything_up else "degraded",
        "generated_at": datetime.now(UTC).isoformat(),
        "services": services,
        "queues": {
            "status": "up" if depths is not None else "down",
            "error": queues_error,
            "depths": depths,
            "total_ready": sum(q["messages"] for q in depths.values()) if depths else None,
        },
        "consumers": workers,
        "notifications": {
            "by_status": by_status,
            "by_channel": by_channel,
            "accepted": (gateway or {}).get("accepted"),
            "users": users,
            "errors": {
                "api_gateway_service": gateway_error,
                "email_service": channel_stats["email"][1],
                "push_service": channel_stats["push"][1],
                "user_service": users_error,
            },
        },
        "delivery_success_rate": success_rate,
        "outbox": (gateway or {}).get("outbox"),
        "dead_letters": {
            "stored": stored_dead_letters,
            "error": dead_letters_error,
            "in_queue": depths[FAILED_QUEUE]["messages"] if depths and FAILED_QUEUE in depths else None,
            # Not storable even in a reduced form: kept as they came for an operator.
            "parked_in_queue": (
                depths[FAILED_PARKED_QUEUE]["messages"] if depths and FAILED_PARKED_QUEUE in depths else None
            ),
        },
    }
