from django.urls import include, path

from notification_common.urls import common_urlpatterns

urlpatterns = [
    *common_urlpatterns(),
    path("api/v1/", include("emails.urls")),
]
