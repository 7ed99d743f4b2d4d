"""GET /api/v1/emails/, /emails/{notification_id}/ and /emails/stats/ (internal API key only)."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from emails.constants import AttemptOutcome, DeliveryStatus
from emails.models import EmailNotification
from emails.tests.factories import DeliveredEmailFactory, EmailAttemptFactory, EmailNotificationFactory
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db


@pytest.fixture
def internal_client(api_client, internal_key):
    api_client.credentials(HTTP_X_API_KEY=internal_key)
    return api_client


# -- list ---------------------------------------------------------------------------------------
def test_list_is_paginated_newest_first_with_meta(internal_client):
    older = EmailNotificationFactory()
    EmailNotification.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    newer = EmailNotificationFactory()

    body = assert_envelope(internal_client.get("/api/v1/emails/?limit=1"), status=200)

    assert [item["notification_id"] for item in body["data"]] == [str(newer.notification_id)]
    assert body["meta"] == {
        "total": 2,
        "limit": 1,
        "page": 1,
        "total_pages": 2,
        "has_next": True,
        "has_previous": False,
    }
    assert older


def test_list_filters_by_status(internal_client):
    delivered = DeliveredEmailFactory()
    EmailNotificationFactory(status=DeliveryStatus.FAILED)

    body = assert_envelope(internal_client.get("/api/v1/emails/?status=delivered"), status=200)

    assert [item["notification_id"] for item in body["data"]] == [str(delivered.notification_id)]
    assert body["data"][0]["status"] == "delivered"
    assert body["data"][0]["subject"] == "Welcome, Ada"


def test_list_filters_by_user_recipient_in_any_case_and_template(internal_client):
    wanted = EmailNotificationFactory(recipient="Ada@Example.com", template_code="order_update")
    EmailNotificationFactory(recipient="ada@example.com", template_code="welcome")  # another template
    EmailNotificationFactory(user_id=wanted.user_id, recipient="grace@example.com", template_code="order_update")

    def listed(**query):
        body = assert_envelope(internal_client.get("/api/v1/emails/", query), status=200)
        return sorted(item["notification_id"] for item in body["data"])

    assert str(wanted.notification_id) in listed(user_id=str(wanted.user_id))
    assert len(listed(user_id=str(wanted.user_id))) == 2
    assert len(listed(recipient="ADA@example.COM")) == 2
    assert listed(recipient="ada@example.com", template_code="order_update") == [str(wanted.notification_id)]
    assert listed(user_id=str(uuid.uuid4())) == []


def test_list_with_a_bad_user_id_names_the_field(internal_client):
    body = assert_envelope(internal_client.get("/api/v1/emails/?user_id=nope"), status=400, error="validation_error")

    assert "user_id" in body["data"]


def test_list_with_an_unknown_status_names_the_field(internal_client):
    body = assert_envelope(internal_client.get("/api/v1/emails/?status=lost"), status=400, error="validation_error")

    assert "status" in body["data"]


def test_list_with_a_bad_page_names_the_field(internal_client):
    body = assert_envelope(internal_client.get("/api/v1/emails/?page=0"), status=400, error="validation_error")

    assert "page" in body["data"]


def test_list_without_credentials_is_refused(api_client):
    assert_envelope(api_client.get("/api/v1/emails/"), status=401, error="not_authenticated")


def test_list_with_a_sender_key_is_forbidden(api_client, sender_key):
    api_client.credentials(HTTP_X_API_KEY=sender_key)

    assert_envelope(api_client.get("/api/v1/emails/"), status=403, error="permission_denied")


def test_list_with_a_user_token_is_forbidden(api_client, user_token):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_token(uuid.uuid4())}")

    assert_envelope(api_client.get("/api/v1/emails/"), status=403, error="permission_denied")


def test_list_with_an_unknown_key_is_refused(api_client):
    api_client.credentials(HTTP_X_API_KEY="not-a-key")

    assert_envelope(api_client.get("/api/v1/emails/"), status=401, error="authentication_failed")


# -- detail -------------------------------------------------------------------------------------
def test_detail_shows_the_delivery_with_its_attempts(internal_client):
    delivery = DeliveredEmailFactory(attempts=2)
    EmailAttemptFactory(
        delivery=delivery, attempt_number=1, outcome=AttemptOutcome.TRANSIENT_FAILURE, smtp_code=451, error="x"
    )
    EmailAttemptFactory(delivery=delivery, attempt_number=2, outcome=AttemptOutcome.SENT, smtp_code=250)

    body = assert_envelope(internal_client.get(f"/api/v1/emails/{delivery.notification_id}/"), status=200)

    data = body["data"]
    assert data["notification_id"] == str(delivery.notification_id)
    assert (data["status"], data["attempts"]) == ("delivered", 2)
    assert [(a["attempt_number"], a["outcome"], a["smtp_code"]) for a in data["history"]] == [
        (1, "transient_failure", 451),
        (2, "sent", 250),
    ]


def test_detail_of_an_unknown_notification_is_404(internal_client):
    assert_envelope(internal_client.get(f"/api/v1/emails/{uuid.uuid4()}/"), status=404, error="not_found")


def test_detail_with_a_malformed_id_names_the_field(internal_client):
    body = assert_envelope(internal_client.get("/api/v1/emails/abc/"), status=400, error="validation_error")

    assert "notification_id" in body["data"]


def test_detail_with_a_sender_key_is_forbidden(api_client, sender_key):
    api_client.credentials(HTTP_X_API_KEY=sender_key)

    assert_envelope(api_client.get(f"/api/v1/emails/{uuid.uuid4()}/"), status=403, error="permission_denied")


# -- stats ------------------------------------------------------------------------------------
def test_stats_count_by_status_for_last_hour_day_and_total_with_the_heartbeat(internal_client, redis_client):
    from emails.constants import HEARTBEAT_KEY
    from notification_common.heartbeat import heartbeat_write

    DeliveredEmailFactory.create_batch(2)
    old = EmailNotificationFactory(status=DeliveryStatus.FAILED)
    EmailNotification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=3))
    heartbeat_write(HEARTBEAT_KEY, name="EmailConsumer:email.queue")

    body = assert_envelope(internal_client.get("/api/v1/emails/stats/"), status=200)

    by_status = body["data"]["by_status"]
    assert by_status["last_hour"] == {"pending": 0, "sending": 0, "delivered": 2, "failed": 0}
    assert by_status["last_day"] == {"pending": 0, "sending": 0, "delivered": 2, "failed": 1}
    assert by_status["total"] == {"pending": 0, "sending": 0, "delivered": 2, "failed": 1}
    assert 0 <= body["data"]["consumer"]["heartbeat_age_seconds"] < 5


def test_stats_without_a_consumer_show_no_heartbeat(internal_client, redis_client):
    body = assert_envelope(internal_client.get("/api/v1/emails/stats/"), status=200)

    assert body["data"]["consumer"] == {"heartbeat_age_seconds": None}


def test_stats_need_the_internal_scope(api_client, sender_key):
    api_client.credentials(HTTP_X_API_KEY=sender_key)

    assert_envelope(api_client.get("/api/v1/emails/stats/"), status=403, error="permission_denied")
