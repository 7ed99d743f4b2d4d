"""URL patterns every service serves: health, metrics, OpenAPI schema and Swagger UI, admin."""

import sys

from django.contrib import admin
from django.http import JsonResponse
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from notification_common.envelope import envelope
from notification_common.exceptions import ErrorCode, outage_response
from notification_common.health import HealthApi, LivenessApi
from notification_common.metrics import metrics_view

PUBLIC = {"authentication_classes": [], "permission_classes": [AllowAny]}


def common_urlpatterns() -> list:
    return [
        path("api/v1/health/", HealthApi.as_view(), name="health"),
        path("api/v1/health/live/", LivenessApi.as_view(), name="liveness"),
        path("metrics", metrics_view, name="metrics"),
        # Public documents: an attached credential, even a bad one, is ignored (no 401).
        path("api/schema/", SpectacularAPIView.as_view(**PUBLIC), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", **PUBLIC), name="swagger-ui"),
        path("admin/", admin.site.urls),
    ]


def not_found(request, exception=None):
    """Unmatched paths answer in the envelope too, not with Django's HTML page."""
    return JsonResponse(envelope(success=False, error=ErrorCode.NOT_FOUND, message="Not found."), status=404)


def server_error(request):
    """Unhandled errors (already logged with their trace) answer in the envelope, with no detail.

    A database, Redis or broker outage raised outside a view (in a middleware, say) is a 503
    with Retry-After instead: the request can be sent again (docs/operations.md, "Outages")."""
    exc = sys.exc_info()[1]
    if exc is not None:
        response = outage_response(exc)
        if response is not None:
            return response
    body = envelope(success=False, error=ErrorCode.INTERNAL_ERROR, message="Internal server error.")
    return JsonResponse(body, status=500)


# In each service's config/urls.py: ``handler404 = "notification_common.urls.not_found"`` etc.
HANDLER404 = "notification_common.urls.not_found"
HANDLER500 = "notification_common.urls.server_error"
