"""URL patterns every service serves: health, metrics, OpenAPI schema and Swagger UI, admin."""

from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from notification_common.health import HealthApi, LivenessApi
from notification_common.metrics import metrics_view


def common_urlpatterns() -> list:
    return [
        path("api/v1/health/", HealthApi.as_view(), name="health"),
        path("api/v1/health/live/", LivenessApi.as_view(), name="liveness"),
        path("metrics", metrics_view, name="metrics"),
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
        path("admin/", admin.site.urls),
    ]
