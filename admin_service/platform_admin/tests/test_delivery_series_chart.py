"""The dashboard's delivered/failed per minute time series (user service delivery-series)."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

POINTS = [
    {"minute": "2026-12-01T12:28:00+00:00", "delivered": 4, "failed": 0},
    {"minute": "2026-12-01T12:29:00+00:00", "delivered": 0, "failed": 2},
    {"minute": "2026-12-01T12:30:00+00:00", "delivered": 8, "failed": 1},
]


def test_the_dashboard_draws_delivered_and_failed_per_minute(staff_browser, platform):
    platform.reply("GET", "/api/v1/notifications/delivery-series/", 200, {"points": POINTS})

    page = staff_browser.get(reverse("admin:platform_dashboard")).content.decode()

    assert "Delivered and failed per minute" in page
    delivered = re.search(r'<polyline points="([^"]+)"[^>]*data-series="delivered"', page).group(1).split()
    failed = re.search(r'<polyline points="([^"]+)"[^>]*data-series="failed"', page).group(1).split()
    assert len(delivered) == len(failed) == 3
    # the highest point (8 delivered) is at the top margin, a zero on the axis
    assert float(delivered[2].split(",")[1]) < float(delivered[1].split(",")[1])
    assert "delivered: 12" in page and "failed: 3" in page
    (request,) = platform.requests_to("GET", "/api/v1/notifications/delivery-series/")
    assert "minutes=60" in request["full_path"]


def test_the_dashboard_still_renders_when_the_series_is_unavailable(staff_browser, platform):
    platform.reply("GET", "/api/v1/notifications/delivery-series/", 503, None, error="unavailable")

    response = staff_browser.get(reverse("admin:platform_dashboard"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Delivered and failed per minute" in page and 'class="errornote"' in page
