from django.urls import include, path

from notification_common.urls import HANDLER404, HANDLER500, common_urlpatterns

urlpatterns = [
    *common_urlpatterns(),
    path("api/v1/", include("notifications.urls")),
    path("api/v1/", include("webhooks.urls")),
]

handler404 = HANDLER404
handler500 = HANDLER500
