from django.urls import path

from platform_admin.apis import admin_accounts, api_keys, audit, dashboard, dead_letters, outbox, proxies

urlpatterns = [
    path("admin/login/", admin_accounts.AdminLoginApi.as_view(), name="admin-login"),
    path("admin/token/refresh/", admin_accounts.AdminTokenRefreshApi.as_view(), name="admin-token-refresh"),
    path("admin/me/", admin_accounts.AdminMeApi.as_view(), name="admin-me"),
    path("admin/api-keys/", api_keys.ApiKeysApi.as_view(), name="api-keys"),
    path("admin/api-keys/verify/", api_keys.ApiKeyVerifyApi.as_view(), name="api-key-verify"),
    path("admin/api-keys/<str:api_key_id>/", api_keys.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("admin/api-keys/<str:api_key_id>/revoke/", api_keys.ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
    path("admin/api-keys/<str:api_key_id>/rotate/", api_keys.ApiKeyRotateApi.as_view(), name="api-key-rotate"),
    path("admin/dashboard/", dashboard.DashboardApi.as_view(), name="dashboard"),
    path("admin/users/", proxies.UserListApi.as_view(), name="users"),
    path("admin/users/<str:user_id>/", proxies.UserDetailApi.as_view(), name="user-detail"),
    path("admin/users/<str:user_id>/deactivate/", proxies.UserDeactivateApi.as_view(), name="user-deactivate"),
    path("admin/users/<str:user_id>/reactivate/", proxies.UserReactivateApi.as_view(), name="user-reactivate"),
    path("admin/templates/", proxies.TemplatesApi.as_view(), name="templates"),
    path("admin/templates/<str:code>/", proxies.TemplateDetailApi.as_view(), name="template-detail"),
    path("admin/templates/<str:code>/versions/", proxies.TemplateVersionCreateApi.as_view(), name="template-versions"),
    path("admin/templates/<str:code>/activate/", proxies.TemplateActivateApi.as_view(), name="template-activate"),
    path("admin/dead-letters/", dead_letters.DeadLetterListApi.as_view(), name="dead-letters"),
    path("admin/dead-letters/replay/", dead_letters.DeadLetterBulkReplayApi.as_view(), name="dead-letters-replay"),
    path(
        "admin/dead-letters/<str:dead_letter_id>/",
        dead_letters.DeadLetterDetailApi.as_view(),
        name="dead-letter-detail",
    ),
    path(
        "admin/dead-letters/<str:dead_letter_id>/replay/",
        dead_letters.DeadLetterReplayApi.as_view(),
        name="dead-letter-replay",
    ),
    path("admin/outbox/parked/", outbox.OutboxParkedListApi.as_view(), name="outbox-parked"),
    path("admin/outbox/<str:notification_id>/replay/", outbox.OutboxReplayApi.as_view(), name="outbox-replay"),
    path("admin/audit/", audit.AuditListApi.as_view(), name="audit"),
]
