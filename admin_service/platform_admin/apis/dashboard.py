"""The platform dashboard as JSON (the admin site draws the same figures: dashboard.py)."""

from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from notification_common.envelope import ok
from platform_admin.apis.common import ANY
from platform_admin.dashboard import dashboard_collect


class DashboardApi(APIView):
    @extend_schema(responses=ANY, summary="Health, queues, delivery figures of the whole platform")
    def get(self, request):
        return ok(dashboard_collect())
