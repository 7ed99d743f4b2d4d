from django.urls import path

from notifications.apis import (
    NotificationCancelApi,
    NotificationCollectionApi,
    NotificationDetailApi,
    NotificationStatsApi,
)
from notifications.bulk_apis import NotificationBulkCreateApi
from notifications.message_log_apis import MessageLogSearchApi
from notifications.outbox_apis import OutboxParkedListApi, OutboxReplayApi

urlpatterns = [
    path("message-log/", MessageLogSearchApi.as_view(), name="message-log"),
    path("notifications/", NotificationCollectionApi.as_view(), name="notifications"),
    path("notifications/bulk/", NotificationBulkCreateApi.as_view(), name="notification-bulk"),
    # Before the detail route, which would otherwise take "stats" for an id.
    path("notifications/stats/", NotificationStatsApi.as_view(), name="notification-stats"),
    # str, not uuid: a malformed id must get the envelope's 404, not Django's HTML one.
    path("notifications/<str:notification_id>/", NotificationDetailApi.as_view(), name="notification-detail"),
    path("notifications/<str:notification_id>/cancel/", NotificationCancelApi.as_view(), name="notification-cancel"),
    # Internal: outbox rows the relay set aside; an outbox row is named by its notification_id.
    path("outbox/parked/", OutboxParkedListApi.as_view(), name="outbox-parked"),
    path("outbox/<str:notification_id>/replay/", OutboxReplayApi.as_view(), name="outbox-replay"),
]
