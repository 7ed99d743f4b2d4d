from django.urls import path

from pushes.apis import PushDetailApi, PushListApi, PushStatsApi

urlpatterns = [
    path("pushes/", PushListApi.as_view(), name="push-list"),
    path("pushes/stats/", PushStatsApi.as_view(), name="push-stats"),
    path("pushes/<uuid:notification_id>/", PushDetailApi.as_view(), name="push-detail"),
]
