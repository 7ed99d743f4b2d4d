"""Fast refusals instead of timeouts: a request that waited too long for a thread gets 503.

Under gunicorn's threaded worker, a saturated process keeps accepting connections and
queues them for its threads without bound, so past capacity every request waits longer and
longer until clients time out. ``QueueTimedThreadWorker`` stamps each connection when it is
queued for a thread and when a thread takes it; ``OverloadMiddleware`` (first in the
middleware list) answers 503 with ``Retry-After`` at once when that wait exceeded
``OVERLOAD_MAX_QUEUE_SECONDS``, before any database or Redis work. Requests that did not
wait long are served as usual, so the process keeps working at its capacity and what it
accepts stays fast. Health, liveness and metrics are never refused.
"""

from __future__ import annotations

import threading
import time

from django.http import JsonResponse
from gunicorn.workers.gthread import ThreadWorker
from prometheus_client import Counter

from notification_common.conf import common_settings

__all__ = ["OverloadMiddleware", "QueueTimedThreadWorker", "queued_seconds"]

SHED = Counter("http_requests_shed", "Requests refused with 503 because they waited too long for a thread.")

_EXEMPT_PREFIXES = ("/api/v1/health/", "/metrics")
_current = threading.local()


def queued_seconds() -> float | None:
    """How long the request in hand waited for this thread (None outside the queue-timed worker)."""
    return getattr(_current, "queued", None)


class QueueTimedThreadWorker(ThreadWorker):
    """gunicorn's ``gthread`` worker, recording how long each connection waited for a thread."""

    def enqueue_req(self, conn):
        conn.queued_at = time.monotonic()
        super().enqueue_req(conn)

    def handle(self, conn):
        queued_at = getattr(conn, "queued_at", None)
        _current.queued = time.monotonic() - queued_at if queued_at is not None else None
        try:
            return super().handle(conn)
        finally:
            _current.queued = None


class OverloadMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = common_settings.OVERLOAD_MAX_QUEUE_SECONDS
        waited = queued_seconds()
        if limit and waited is not None and waited > limit and not request.path.startswith(_EXEMPT_PREFIXES):
            # Imported here: gunicorn's master loads this module (the worker class) before Django is set up.
            from notification_common.envelope import envelope
            from notification_common.exceptions import ErrorCode

            SHED.inc()
            retry_after = common_settings.OVERLOAD_RETRY_AFTER_SECONDS
            response = JsonResponse(
                envelope(
                    success=False,
                    error=ErrorCode.OVERLOADED,
                    message="The service is saturated; try again shortly.",
                    data={"queued_ms": int(waited * 1000), "retry_after": retry_after},
                ),
                status=503,
            )
            response["Retry-After"] = str(retry_after)
            return response
        return self.get_response(request)
