from django.urls import path

from notifications.apis import NotificationCollectionApi, NotificationDetailApi, NotificationStatsApi

urlpatterns = [
    path("notifications/", NotificationCollectionApi.as_view(), name="notifications"),
    # Before the detail route, which would otherwise take "stats" for an id.
    path("notifications/stats/", NotificationStatsApi.as_view(), name="notification-stats"),
    # str, not uuid: a malformed id must get the envelope's 404, not Django's HTML one.
    path("notifications/<str:notification_id>/", NotificationDetailApi.as_view(), name="notification-detail"),
]
