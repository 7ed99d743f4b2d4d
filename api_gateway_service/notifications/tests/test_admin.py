"""The Django admin of notification requests and the outbox."""

import pytest
from django.utils import timezone

from notifications.models import OutboxMessage
from notifications.tests.factories import OutboxMessageFactory

pytestmark = pytest.mark.django_db

OUTBOX_ADMIN = "/admin/notifications/outboxmessage/"


def test_notification_requests_are_listed_and_shown(admin_client):
    row = OutboxMessageFactory()

    assert admin_client.get("/admin/notifications/notificationrequest/").status_code == 200
    assert (
        admin_client.get(f"/admin/notifications/notificationrequest/{row.notification_id}/change/").status_code == 200
    )


def test_outbox_can_be_filtered_to_unpublished_rows(admin_client):
    published = OutboxMessageFactory(published_at=timezone.now())
    unpublished = OutboxMessageFactory()

    response = admin_client.get(OUTBOX_ADMIN, {"status": "pending"})

    assert response.status_code == 200
    assert list(response.context["cl"].queryset) == [unpublished]
    assert published not in response.context["cl"].queryset


def test_requeue_action_marks_published_rows_for_the_relay(admin_client):
    row = OutboxMessageFactory(published_at=timezone.now())

    response = admin_client.post(OUTBOX_ADMIN, {"action": "requeue", "_selected_action": [row.pk]}, follow=True)

    assert response.status_code == 200
    assert OutboxMessage.objects.get(pk=row.pk).published_at is None
