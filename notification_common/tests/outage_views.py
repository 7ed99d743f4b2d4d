"""Views and a middleware that touch PostgreSQL or Redis, for the outage tests (test_outages.py)."""

from django.contrib.auth.models import User
from django.db import connection
from django.http import JsonResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from notification_common.conf import common_settings
from notification_common.envelope import ok
from notification_common.rabbitmq import EMAIL_QUEUE, get_publisher
from notification_common.redis_client import get_redis


class DatabaseApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        return ok({"users": User.objects.count()})


class RedisApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        return ok({"hits": get_redis().incr("outage-probe")})


class PublishApi(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        get_publisher(common_settings.RABBITMQ_URL).publish(EMAIL_QUEUE, {"probe": True})
        return ok({"published": True})


class BadSqlApi(APIView):
    """A real bug in a query: must stay a 500, not pass for an outage."""

    permission_classes = [AllowAny]

    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table_anywhere")
        return ok()


def plain_database_view(request):
    """Outside DRF (like the admin or /metrics)."""
    return JsonResponse({"users": User.objects.count()})


class DatabaseTouchingMiddleware:
    """Reads the database before the view, on one path only (like a session or auth middleware)."""

    PATH = "/t/outage/middleware-db/"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == self.PATH:
            User.objects.exists()
            return JsonResponse({"ok": True})
        return self.get_response(request)


urlpatterns = [
    path("t/outage/db/", DatabaseApi.as_view()),
    path("t/outage/redis/", RedisApi.as_view()),
    path("t/outage/publish/", PublishApi.as_view()),
    path("t/outage/bad-sql/", BadSqlApi.as_view()),
    path("t/outage/plain-db/", plain_database_view),
]
