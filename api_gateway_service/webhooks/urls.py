from django.urls import path

from webhooks import apis

urlpatterns = [
    path("webhooks/", apis.WebhookCollectionApi.as_view(), name="webhooks"),
    path("webhooks/deliveries/", apis.WebhookDeliveryByNotificationApi.as_view(), name="webhook-deliveries-all"),
    path("webhooks/<uuid:webhook_id>/", apis.WebhookDetailApi.as_view(), name="webhook-detail"),
    path("webhooks/<uuid:webhook_id>/deliveries/", apis.WebhookDeliveryListApi.as_view(), name="webhook-deliveries"),
    path("webhooks/<uuid:webhook_id>/test/", apis.WebhookTestApi.as_view(), name="webhook-test"),
]
