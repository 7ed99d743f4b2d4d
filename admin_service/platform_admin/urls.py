from django.urls import path

from platform_admin import apis, outbox_apis

urlpatterns = [
    path("admin/login/", apis.AdminLoginApi.as_view(), name="admin-login"),
    path("admin/token/refresh/", apis.AdminTokenRefreshApi.as_view(), name="admin-token-refresh"),
    path("admin/me/", apis.AdminMeApi.as_view(), name="admin-me"),
    path("admin/api-keys/", apis.ApiKeysApi.as_view(), name="api-keys"),
    path("admin/api-keys/verify/", apis.ApiKeyVerifyApi.as_view(), name="api-key-verify"),
    path("admin/api-keys/<str:api_key_id>/", apis.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("admin/api-keys/<str:api_key_id>/revoke/", apis.ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
    path("admin/api-keys/<str:api_key_id>/rotate/", apis.ApiKeyRotateApi.as_view(), name="api-key-rotate"),
    path("admin/dashboard/", apis.DashboardApi.as_view(), name="dashboard"),
    path("admin/users/", apis.UserListApi.as_view(), name="users"),
    path("admin/users/<str:user_id>/", apis.UserDetailApi.as_view(), name="user-detail"),
    path("admin/users/<str:user_id>/deactivate/", apis.UserDeactivateApi.as_view(), name="user-deactivate"),
    path("admin/users/<str:user_id>/reactivate/", apis.UserReactivateApi.as_view(), name="user-reactivate"),
    path("admin/templates/", apis.TemplatesApi.as_view(), name="templates"),
    path("admin/templates/<str:code>/", apis.TemplateDetailApi.as_view(), name="template-detail"),
    path("admin/templates/<str:code>/versions/", apis.TemplateVersionCreateApi.as_view(), name="template-versions"),
    path("admin/templates/<str:code>/activate/", apis.TemplateActivateApi.as_view(), name="template-activate"),
    path("admin/dead-letters/", apis.DeadLetterListApi.as_view(), name="dead-letters"),
    path("admin/dead-letters/replay/", apis.DeadLetterBulkReplayApi.as_view(), name="dead-letters-replay"),
    path("admin/dead-letters/<str:dead_letter_id>/", apis.DeadLetterDetailApi.as_view(), name="dead-letter-detail"),
    path(
        "admin/dead-letters/<str:dead_letter_id>/replay/",
        apis.DeadLetterReplayApi.as_view(),
        name="dead-letter-replay",
    ),
    path("admin/outbox/parked/", outbox_apis.OutboxParkedListApi.as_view(), name="outbox-parked"),
    path("admin/outbox/<str:notification_id>/replay/", outbox_apis.OutboxReplayApi.as_view(), name="outbox-replay"),
    path("admin/audit/", apis.AuditListApi.as_view(), name="audit"),
]
