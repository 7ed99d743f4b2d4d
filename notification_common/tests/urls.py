"""Views that raise each kind of error, to test the one exception handler."""

from django.urls import path
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.views import APIView

from notification_common.authentication import IsInternal, caller_user_id
from notification_common.envelope import ok
from notification_common.exceptions import ApplicationError, NotFound
from notification_common.urls import common_urlpatterns
from tests.outage_views import urlpatterns as outage_urlpatterns


class _Input(serializers.Serializer):
    email = serializers.EmailField()
    count = serializers.IntegerField(min_value=1)


class ValidateApi(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        _Input(data=request.data).is_valid(raise_exception=True)
        return ok({"valid": True})


class MissingApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise NotFound("No such thing.")


class ConflictApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise ApplicationError("duplicate_request", "Already there.", 409, data={"id": "x"})


class BugApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("a real bug")


class WhoAmIApi(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return ok({"user_id": caller_user_id(request.user), "principal": str(request.user)})


class SlowApi(APIView):
    """Takes ``?seconds=`` (at most 2) of server time: a stand-in for a saturated worker."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        import time

        time.sleep(min(2.0, float(request.query_params.get("seconds", "0.3"))))
        return ok({"slow": True})


class InternalApi(APIView):
    permission_classes = [IsInternal]

    def get(self, request):
        return ok({"internal": True})


urlpatterns = [
    *common_urlpatterns(),
    path("t/validate/", ValidateApi.as_view()),
    path("t/missing/", MissingApi.as_view()),
    path("t/conflict/", ConflictApi.as_view()),
    path("t/bug/", BugApi.as_view()),
    path("t/whoami/", WhoAmIApi.as_view()),
    path("t/internal/", InternalApi.as_view()),
    path("t/slow/", SlowApi.as_view()),
    *outage_urlpatterns,
]

handler404 = "notification_common.urls.not_found"
handler500 = "notification_common.urls.server_error"
