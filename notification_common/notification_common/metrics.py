"""Prometheus metrics: request counts and latency by route and status, and the /metrics view.

Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR so every worker's
samples are merged (docs/operations.md).
"""

import os
import time

from django.http import HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def observe_request(*, service: str, method: str, route: str, status: int, started: float) -> None:
    HTTP_REQUESTS.labels(service, method, route, str(status)).inc()
    HTTP_LATENCY.labels(service, method, route).observe(time.perf_counter() - started)


# Collectors whose value is read when /metrics is scraped (e.g. a count from the database):
# the same in one process or under gunicorn's workers, where only files are shared.
_SCRAPE_COLLECTORS: list = []


def register_scrape_collector(collector) -> None:
    """Serve ``collector`` on /metrics, read at scrape time. It should define ``describe()``
    (so registering does not collect) and never raise from ``collect()``."""
    if collector not in _SCRAPE_COLLECTORS:
        _SCRAPE_COLLECTORS.append(collector)
        REGISTRY.register(collector)


def metrics_view(request):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in _SCRAPE_COLLECTORS:
            registry.register(collector)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def _register_shared_collectors() -> None:
    # Stuck status reports (docs/operations.md, "Outages"); silent unless STATUS_REPORT_CHANNELS is set.
    from notification_common.status_report_backlog import StatusReportBacklogCollector

    register_scrape_collector(StatusReportBacklogCollector())


_register_shared_collectors()
