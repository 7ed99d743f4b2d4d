"""Routes under /api/v1/. Named paths (me, login, jwks, ...) cannot be shadowed by the
``<uuid:user_id>`` routes: the converter only matches UUIDs."""

from django.urls import path

from users import apis, device_apis, managed_apis, status_apis, token_apis, unsubscribe_apis

urlpatterns = [
    path("users/", apis.UsersApi.as_view(), name="users"),
    path("users/login/", token_apis.UserLoginApi.as_view(), name="user-login"),
    path("users/token/refresh/", token_apis.TokenRefreshApi.as_view(), name="token-refresh"),
    path("users/jwks/", token_apis.JwksApi.as_view(), name="jwks"),
    path("users/public-key/", token_apis.PublicKeyApi.as_view(), name="public-key"),
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
    path("users/<uuid:user_id>/devices/", device_apis.UserDevicesApi.as_view(), name="user-devices"),
    path(
        "users/<uuid:user_id>/devices/<uuid:device_id>/",
        device_apis.UserDeviceRemoveApi.as_view(),
        name="user-device-remove",
    ),
    path("users/<uuid:user_id>/notifications/", status_apis.UserNotificationsApi.as_view(), name="user-notifications"),
    path("users/<uuid:user_id>/deactivate/", apis.UserDeactivateApi.as_view(), name="user-deactivate"),
    path("users/<uuid:user_id>/reactivate/", apis.UserReactivateApi.as_view(), name="user-reactivate"),
    path("unsubscribe/<str:token>/", unsubscribe_apis.UnsubscribeApi.as_view(), name="unsubscribe"),
    path("devices/deactivate/", device_apis.DeviceDeactivateApi.as_view(), name="device-deactivate"),
    path("email/status/", status_apis.EmailStatusReportApi.as_view(), name="email-status"),
    path("push/status/", status_apis.PushStatusReportApi.as_view(), name="push-status"),
    path("notifications/status-events/", status_apis.StatusEventFeedApi.as_view(), name="status-events"),
    path("notifications/delivery-series/", status_apis.DeliverySeriesApi.as_view(), name="delivery-series"),
    path(
        "notifications/<uuid:notification_id>/status/",
        status_apis.NotificationStatusApi.as_view(),
        name="notification-status",
    ),
]
