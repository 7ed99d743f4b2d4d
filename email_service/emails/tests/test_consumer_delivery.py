"""A message on email.queue becomes exactly one email at the loopback SMTP server."""

import pytest

from emails.constants import AttemptOutcome, DeliveryStatus
from emails.models import EmailNotification
from emails.tests.conftest import email_message
from emails.tests.factories import DeliveredEmailFactory
from notification_common.rabbitmq import EMAIL_QUEUE, FAILED_QUEUE
from notification_devtools.testing.rabbit import drain

pytestmark = pytest.mark.django_db(transaction=True)


def test_message_is_delivered_with_subject_text_html_recipient_and_headers(
    make_consumer, publish_email, smtp_server, settings
):
    # Given a valid email message in email.queue
    body = publish_email()

    # When the consumer handles it
    make_consumer().run(max_messages=1, idle_timeout=5)

    # Then exactly one email arrived, rendered from the template, with the notification id
    [received] = smtp_server.wait_for(1)
    assert received.subject == "Welcome, Ada"
    assert received.text.strip() == "Hi Ada, open https://example.com/start"
    assert "<b>Ada</b>" in received.html
    assert received.rcpt_tos == ("ada@example.com",)
    assert received["To"] == "Ada Lovelace <ada@example.com>"
    assert received["From"] == settings.EMAIL_FROM
    assert received.notification_id == body["notification_id"]
    assert received["Message-ID"] == f"<{body['notification_id']}@notifications.local>"


def test_delivery_and_its_attempt_are_stored(make_consumer, publish_email, smtp_server):
    body = publish_email()

    make_consumer().run(max_messages=1, idle_timeout=5)

    delivery = EmailNotification.objects.get(notification_id=body["notification_id"])
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.sent_at is not None
    assert (delivery.subject, delivery.template_version, delivery.rendered_language) == ("Welcome, Ada", 3, "en")
    assert str(delivery.user_id) == body["user_id"]
    assert delivery.trace_id == "trace-abc"
    [attempt] = delivery.attempt_log.all()
    assert (attempt.attempt_number, attempt.outcome, attempt.smtp_code) == (1, AttemptOutcome.SENT, 250)


def test_message_is_acked_after_delivery(make_consumer, publish_email, rabbit_channel):
    publish_email()

    make_consumer().run(max_messages=1, idle_timeout=5)

    assert drain(rabbit_channel, EMAIL_QUEUE) == []
    assert drain(rabbit_channel, FAILED_QUEUE) == []


def test_delivered_is_reported_to_the_user_service_and_marked_reported(make_consumer, publish_email, user_service):
    body = publish_email()

    make_consumer().run(max_messages=1, idle_timeout=5)

    [report] = user_service.reports(body["notification_id"])
    assert report["status"] == "delivered"
    assert report["user_id"] == body["user_id"]
    assert report["error"] is None
    delivery = EmailNotification.objects.get(notification_id=body["notification_id"])
    assert delivery.reported_status == DeliveryStatus.DELIVERED


def test_redelivered_copy_of_a_delivered_notification_sends_nothing(make_consumer, publish_email, smtp_server):
    # Given a notification already delivered
    delivered = DeliveredEmailFactory()
    # When a copy of its message arrives again (broker redelivery, relay republish)
    publish_email(notification_id=str(delivered.notification_id))
    settled = make_consumer().run(max_messages=1, idle_timeout=5)

    # Then it is acked and nothing is sent
    assert settled == 1
    assert smtp_server.messages == []
    delivered.refresh_from_db()
    assert delivered.attempts == 1


def test_two_copies_in_one_batch_give_one_email(make_consumer, publish_email, smtp_server, rabbit_channel):
    body = publish_email()
    publish_email(dict(body))

    make_consumer(batch_size=10).run(max_messages=2, idle_timeout=5)

    assert len(smtp_server.messages) == 1
    assert drain(rabbit_channel, EMAIL_QUEUE) == []


def test_a_batch_is_sent_over_one_smtp_connection(make_consumer, publish_email, smtp_server):
    for n in range(20):
        publish_email(recipient={"email": f"user{n}@example.com"}, variables={"name": f"U{n}", "link": "x"})
    consumer = make_consumer(batch_size=10)

    consumer.run(max_messages=20, idle_timeout=5)

    assert len(smtp_server.wait_for(20)) == 20
    assert consumer.sender.connections_opened == 1


def test_renders_of_the_same_template_version_and_variables_are_fetched_once(
    make_consumer, publish_email, template_service, smtp_server
):
    for n in range(5):
        publish_email(recipient={"email": f"user{n}@example.com"})
    consumer = make_consumer(batch_size=1)

    consumer.run(max_messages=5, idle_timeout=5)

    assert len(smtp_server.wait_for(5)) == 5
    assert len(template_service.calls) == 1


def test_text_part_falls_back_to_the_html_without_tags(make_consumer, publish_email, template_service, smtp_server):
    template_service.add("html_only", subject="Hello", text_body="", html_body="<p>Hello <b>{{ name }}</b></p>")

    publish_email(template_code="html_only", variables={"name": "Ada"})
    make_consumer().run(max_messages=1, idle_timeout=5)

    [received] = smtp_server.wait_for(1)
    assert received.text.strip() == "Hello Ada"
    assert "<b>Ada</b>" in received.html


def test_unreported_outcomes_are_reported_again_when_the_consumer_starts(make_consumer, user_service):
    # Given an outcome whose report was lost with the process that queued it
    delivered = DeliveredEmailFactory(reported_status="")

    # When a consumer starts
    make_consumer().run(idle_timeout=0.5)

    # Then the user service hears about it, and it is marked reported
    assert user_service.statuses(str(delivered.notification_id)) == ["delivered"]
    delivered.refresh_from_db()
    assert delivered.reported_status == DeliveryStatus.DELIVERED


def test_the_consumer_writes_a_heartbeat_to_redis(make_consumer, redis_client):
    from emails.constants import HEARTBEAT_KEY
    from notification_common.heartbeat import heartbeat_age_seconds

    make_consumer().run(idle_timeout=0.3)

    assert heartbeat_age_seconds(HEARTBEAT_KEY) is not None
    assert heartbeat_age_seconds(HEARTBEAT_KEY) < 5


def test_the_consumer_also_touches_its_heartbeat_file_when_given_one(make_consumer, redis_client, tmp_path):
    # Given the per-process liveness probe's file (consume_emails --heartbeat-file)
    path = tmp_path / "beat"

    # When a consumer runs
    make_consumer(heartbeat_path=str(path)).run(idle_timeout=0.3)

    # Then it touched the file, as well as writing its Redis heartbeat
    assert path.exists()


def test_message_without_optional_fields_uses_the_default_language(make_consumer, publish_email, template_service):
    body = email_message()
    for optional in ("language", "metadata", "priority", "request_id", "trace_id", "user_id", "created_at"):
        body.pop(optional)
    publish_email(body)

    make_consumer().run(max_messages=1, idle_timeout=5)

    assert template_service.params_of(template_service.calls[0])["language"] == "en"
    assert EmailNotification.objects.get().status == DeliveryStatus.DELIVERED
