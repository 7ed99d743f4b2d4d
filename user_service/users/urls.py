"""Routes under /api/v1/. Named paths (me, login, jwks, ...) cannot be shadowed by the
``<uuid:user_id>`` routes: the converter only matches UUIDs."""

from django.urls import path

from users import apis, managed_apis
from users.status_feed import StatusEventFeedApi
from users.status_series import DeliverySeriesApi
from users.unsubscribe_apis import UnsubscribeApi

urlpatterns = [
    path("users/", apis.UsersApi.as_view(), name="users"),
    path("users/login/", apis.UserLoginApi.as_view(), name="user-login"),
    path("users/token/refresh/", apis.TokenRefreshApi.as_view(), name="token-refresh"),
    path("users/jwks/", apis.JwksApi.as_view(), name="jwks"),
    path("users/public-key/", apis.PublicKeyApi.as_view(), name="public-key"),
    path("users/me/", apis.MeApi.as_view(), name="me"),
    path("users/me/password/", apis.MePasswordChangeApi.as_view(), name="me-password"),
    path("users/stats/", apis.UserStatsApi.as_view(), name="user-stats"),
    path("users/import/", managed_apis.ManagedUserImportApi.as_view(), name="user-import"),
    path(
        "users/by-external-id/<str:external_id>/",
        managed_apis.ManagedUserApi.as_view(),
        name="user-by-external-id",
    ),
    path("users/<uuid:user_id>/", apis.UserDetailApi.as_view(), name="user-detail"),
    path("users/<uuid:user_id>/devices/", apis.UserDevicesApi.as_view(), name="user-devices"),
    path(
        "users/<uuid:user_id>/devices/<uuid:device_id>/",
        apis.UserDeviceRemoveApi.as_view(),
        name="user-device-remove",
    ),
    path("users/<uuid:user_id>/notifications/", apis.UserNotificationsApi.as_view(), name="user-notifications"),
    path("users/<uuid:user_id>/deactivate/", apis.UserDeactivateApi.as_view(), name="user-deactivate"),
    path("users/<uuid:user_id>/reactivate/", apis.UserReactivateApi.as_view(), name="user-reactivate"),
    path("unsubscribe/<str:token>/", UnsubscribeApi.as_view(), name="unsubscribe"),
    path("devices/deactivate/", apis.DeviceDeactivateApi.as_view(), name="device-deactivate"),
    path("email/status/", apis.EmailStatusReportApi.as_view(), name="email-status"),
    path("push/status/", apis.PushStatusReportApi.as_view(), name="push-status"),
    path("notifications/status-events/", StatusEventFeedApi.as_view(), name="status-events"),
    path("notifications/delivery-series/", DeliverySeriesApi.as_view(), name="delivery-series"),
    path(
        "notifications/<uuid:notification_id>/status/",
        apis.NotificationStatusApi.as_view(),
        name="notification-status",
    ),
]
