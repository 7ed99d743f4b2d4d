"""GET /api/v1/health/: the service and each dependency it uses; 503 naming what is down.

Anonymous callers see up/down per dependency; an internal key (``X-API-Key``) also sees the
details. Checks reuse the process's pooled connections (Redis pool, one kept broker
connection), so frequent probes do not open connections each time."""

import logging
import threading
import time

from django.db import connection
from django.utils.module_loading import import_string
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from notification_common.conf import common_settings
from notification_common.envelope import envelope
from notification_common.exceptions import ErrorCode

logger = logging.getLogger(__name__)


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": "up"}


def check_redis() -> dict:
    # The process's pooled client: a probe every few seconds must not open a connection each time.
    from notification_common.redis_client import get_redis

    get_redis().ping()
    return {"status": "up"}


class _BrokerProbe:
    """One broker connection per process, kept for health checks and reopened when lost."""

    def __init__(self):
        self._lock = threading.Lock()
        self._connection = None
        self._url = None

    def check(self) -> None:
        from notification_common.rabbitmq.connection import connect

        url = common_settings.RABBITMQ_URL
        with self._lock:
            if url != self._url:
                self._close()
            connection = self._connection
            if connection is not None and connection.is_open:
                try:
                    connection.process_data_events(time_limit=0)  # raises if the broker went away
                    return
                except Exception:
                    self._close()
            self._connection = connect(url, socket_timeout=common_settings.HEALTH_TIMEOUT_SECONDS, heartbeat=0)
            self._url = url

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        try:
            if connection is not None and connection.is_open:
                connection.close()
        except Exception:  # a connection we are giving up on: nothing left to do with it
            logger.debug("health: closing a lost broker connection failed", exc_info=True)


_broker_probe = _BrokerProbe()


def check_rabbitmq() -> dict:
    _broker_probe.check()
    return {"status": "up"}


DEGRADED = "degraded"

BUILTIN_CHECKS = {"database": check_database, "redis": check_redis, "rabbitmq": check_rabbitmq}


def run_checks() -> dict[str, dict]:
    checks = [(name, BUILTIN_CHECKS[name]) for name in common_settings.HEALTH_CHECKS]
    if common_settings.STATUS_REPORT_CHANNELS:
        from notification_common.status_report_backlog import check_status_reports

        checks.append(("status_reports", check_status_reports))
    for path in common_settings.HEALTH_EXTRA_CHECKS:
        func = import_string(path)
        checks.append((getattr(func, "check_name", func.__name__.removeprefix("check_")), func))
    results = {}
    for name, func in checks:
        started = time.perf_counter()
        try:
            result = dict(func())
        except Exception as exc:  # any failure of a dependency is reported, never raised
            result = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
        result.setdefault("status", "up")
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        results[name] = result
    return results


def _may_see_details(request) -> bool:
    """Details (errors, latencies, backlogs) go to callers with an internal key only.

    The endpoint stays open without credentials (load balancers, probes): a missing, bad or
    unverifiable key just gets the short answer, never a 401."""
    from notification_common.api_keys import Scope, verify_api_key
    from notification_common.http_client import API_KEY_HEADER

    raw = request.headers.get(API_KEY_HEADER)
    if not raw:
        return False
    try:
        info = verify_api_key(raw.strip())
    except Exception:  # the admin service or Redis down: no details, still an answer
        return False
    return info is not None and info.has_scope(Scope.INTERNAL)


class HealthApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT}, summary="Service and dependency health"
    )
    def get(self, request):
        checks = run_checks()
        if not _may_see_details(request):
            # Anonymous callers learn up/down per dependency, never internal error strings.
            checks = {name: {"status": result["status"]} for name, result in checks.items()}
        # "degraded" (e.g. status reports waiting on the user service) is shown but still 200:
        # the service itself works, and a probe must not restart it for someone else's outage.
        down = [name for name, result in checks.items() if result["status"] not in ("up", DEGRADED)]
        degraded = [name for name, result in checks.items() if result["status"] == DEGRADED]
        data = {
            "service": common_settings.SERVICE_NAME,
            "status": "down" if down else (DEGRADED if degraded else "up"),
            "checks": checks,
        }
        if down:
            body = envelope(
                success=False,
                data=data,
                error=ErrorCode.DEPENDENCY_UNAVAILABLE,
                message=f"Unavailable: {', '.join(down)}",
            )
            return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        if degraded:
            return Response(envelope(data=data, message=f"Degraded: {', '.join(degraded)}"))
        return Response(envelope(data=data, message="All dependencies are up."))


class LivenessApi(APIView):
    """Touches nothing: the process answers."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Liveness (touches no dependency)")
    def get(self, request):
        return Response(envelope(data={"service": common_settings.SERVICE_NAME, "status": "alive"}))
