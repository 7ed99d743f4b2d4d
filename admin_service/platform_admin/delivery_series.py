"""The dashboard's time series: delivered and failed per minute over the last hour, from the
user service's notification log (``GET /api/v1/notifications/delivery-series/``)."""

from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString

from notification_common.exceptions import ApplicationError
from platform_admin import clients
from platform_admin.charts import time_series_chart

DELIVERY_SERIES_PATH = "/api/v1/notifications/delivery-series/"
TITLE = "Delivered and failed per minute (last hour, UTC)"


def delivery_series_chart(*, minutes: int = 60) -> SafeString:
    try:
        client = clients.probe_client("user_service", settings.USER_SERVICE_URL)
        data = clients._result(client.get(DELIVERY_SERIES_PATH, params={"minutes": minutes}), "user_service").data
        points = data["points"]
    except (ApplicationError, KeyError, TypeError, ValueError, OSError) as exc:
        message = getattr(exc, "message", None) or exc.__class__.__name__
        return format_html(
            '<figure class="chart"><figcaption>{}</figcaption><p class="errornote">{}</p></figure>', TITLE, message
        )
    labels = [point["minute"][11:16] for point in points]
    series = {status: [point[status] for point in points] for status in ("delivered", "failed")}
    return time_series_chart(TITLE, labels, series)
