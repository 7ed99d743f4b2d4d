from django.urls import path

from emails.apis import EmailDetailApi, EmailListApi, EmailStatsApi

urlpatterns = [
    path("emails/", EmailListApi.as_view(), name="email-list"),
    path("emails/stats/", EmailStatsApi.as_view(), name="email-stats"),
    path("emails/<str:notification_id>/", EmailDetailApi.as_view(), name="email-detail"),
]
