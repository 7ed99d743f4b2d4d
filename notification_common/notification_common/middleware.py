"""Request id, metrics and outage middleware, installed by every service."""

import time

from notification_common.conf import common_settings
from notification_common.exceptions import outage_response
from notification_common.metrics import observe_request
from notification_common.request_context import (
    REQUEST_ID_HEADER,
    clean_request_id,
    reset_request_id,
    set_request_id,
)


class RequestIdMiddleware:
    """Read or create X-Request-ID, expose it to logs and outbound calls, return it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = clean_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class MetricsMiddleware:
    """Count requests and time them by route template (not raw path, to bound cardinality)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = ("/" + match.route) if match is not None and match.route else "unmatched"
        if route != "/metrics":
            observe_request(
                service=common_settings.SERVICE_NAME,
                method=request.method,
                route=route,
                status=response.status_code,
                started=started,
            )
        return response


class OutageMiddleware:
    """A plain Django view (admin, /metrics, anything outside DRF) that hits a database, Redis
    or broker outage answers 503 in the envelope with Retry-After, not a 500. DRF views get the
    same from the exception handler; errors raised by middleware reach the 500 handler
    (notification_common.urls.server_error), which does the same. Real bugs are left alone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        return outage_response(exception)
