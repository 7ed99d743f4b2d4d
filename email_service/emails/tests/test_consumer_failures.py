"""Failures are classified: transient ones are retried through the delay queues, permanent
ones and malformed messages go to failed.queue at once, and every outcome is reported."""

from datetime import timedelta

import pytest
from django.utils import timezone

from emails.constants import AttemptOutcome, AttemptStage, DeliveryStatus
from emails.models import EmailNotification
from emails.tests.conftest import STATUS_PATH, delay_queue_depth, header, run_in_thread, wait_until
from emails.tests.factories import EmailNotificationFactory
from notification_common.rabbitmq import EMAIL_QUEUE, FAILED_QUEUE
from notification_devtools.testing.rabbit import drain

pytestmark = pytest.mark.django_db(transaction=True)


def _delivery(body) -> EmailNotification:
    return EmailNotification.objects.get(notification_id=body["notification_id"])


def _outcomes(delivery) -> list[tuple[str, int | None]]:
    return [(a.outcome, a.smtp_code) for a in delivery.attempt_log.order_by("attempt_number")]


# -- transient: retried, then delivered once ----------------------------------------------
def test_smtp_451_twice_then_recovery_gives_one_email_after_retries(
    make_consumer, publish_email, smtp_server, rabbit_channel
):
    # Given an SMTP server that answers 451 to the next two RCPT TO
    smtp_server.fail_next(2, code=451)
    body = publish_email()

    # When the consumer handles the message and its two retries
    make_consumer().run(max_messages=3, idle_timeout=5)

    # Then exactly one email arrived and the three attempts are recorded
    assert len(smtp_server.find(notification_id=body["notification_id"])) == 1
    delivery = _delivery(body)
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 3
    assert _outcomes(delivery) == [
        (AttemptOutcome.TRANSIENT_FAILURE, 451),
        (AttemptOutcome.TRANSIENT_FAILURE, 451),
        (AttemptOutcome.SENT, 250),
    ]
    assert [a.queue_attempt for a in delivery.attempt_log.order_by("attempt_number")] == [1, 2, 3]
    assert drain(rabbit_channel, EMAIL_QUEUE) == [] and drain(rabbit_channel, FAILED_QUEUE) == []


def test_each_retry_is_reported_pending_with_its_attempt(make_consumer, publish_email, smtp_server, user_service):
    smtp_server.fail_next(2, code=451)
    body = publish_email()

    make_consumer().run(max_messages=3, idle_timeout=5)

    reports = user_service.reports(body["notification_id"])
    assert [(r["status"], r["attempt"]) for r in reports] == [("pending", 1), ("pending", 2), ("delivered", 3)]
    assert reports[0]["error"].startswith("smtp_temporary_failure: 451")


def test_template_service_down_is_retried_then_delivered(make_consumer, publish_email, template_service, smtp_server):
    # Given a template service that fails every try of the first render (the client retries twice)
    template_service.server.fail_next(3, status=503)
    body = publish_email()

    make_consumer().run(max_messages=2, idle_timeout=5)

    assert len(smtp_server.wait_for(1)) == 1
    delivery = _delivery(body)
    [first, second] = delivery.attempt_log.order_by("attempt_number")
    assert (first.outcome, first.stage) == (AttemptOutcome.TRANSIENT_FAILURE, AttemptStage.RENDER)
    assert first.error.startswith("template_service_unavailable")
    assert second.outcome == AttemptOutcome.SENT


def test_exhausted_attempts_go_to_failed_queue_and_failed_is_reported(
    make_consumer, publish_email, smtp_server, rabbit_channel, user_service
):
    smtp_server.fail_next(10, code=451)
    body = publish_email()

    make_consumer(max_attempts=2).run(max_messages=2, idle_timeout=5)

    [(_, properties)] = drain(rabbit_channel, FAILED_QUEUE)
    assert header(properties, "x-failure-kind") == "exhausted"
    assert header(properties, "x-failure-reason").startswith("max_attempts_exceeded: smtp_temporary_failure: 451")
    delivery = _delivery(body)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error.startswith("max_attempts_exceeded")
    assert user_service.statuses(body["notification_id"]) == ["pending", "failed"]
    assert smtp_server.messages == []


# -- permanent: failed.queue at once, never looping -----------------------------------------
def test_smtp_550_goes_straight_to_failed_queue_and_failed_is_reported(
    make_consumer, publish_email, smtp_server, rabbit_channel, user_service
):
    smtp_server.reject_recipient("nobody@example.com", code=550, message="No such user")
    body = publish_email(recipient={"email": "nobody@example.com"})

    settled = make_consumer().run(idle_timeout=1)

    assert settled == 1
    [(failed_body, properties)] = drain(rabbit_channel, FAILED_QUEUE)
    assert failed_body["notification_id"] == body["notification_id"]
    assert header(properties, "x-failure-kind") == "permanent"
    assert header(properties, "x-failure-reason") == "smtp_recipient_refused: 550 No such user"
    assert delay_queue_depth(rabbit_channel) == 0
    delivery = _delivery(body)
    assert (delivery.status, delivery.smtp_code) == (DeliveryStatus.FAILED, 550)
    assert _outcomes(delivery) == [(AttemptOutcome.PERMANENT_FAILURE, 550)]
    [report] = user_service.reports(body["notification_id"])
    assert (report["status"], report["error"]) == ("failed", "smtp_recipient_refused: 550 No such user")
    assert delivery.reported_status == DeliveryStatus.FAILED


def test_unknown_template_goes_to_failed_queue_with_its_reason(make_consumer, publish_email, rabbit_channel):
    body = publish_email(template_code="no_such_template")

    settled = make_consumer().run(idle_timeout=1)

    assert settled == 1
    [(_, properties)] = drain(rabbit_channel, FAILED_QUEUE)
    assert header(properties, "x-failure-reason").startswith("template_not_found")
    assert _delivery(body).status == DeliveryStatus.FAILED
    assert _outcomes(_delivery(body)) == [(AttemptOutcome.PERMANENT_FAILURE, None)]


def test_missing_variable_goes_to_failed_queue_naming_the_variable(make_consumer, publish_email, rabbit_channel):
    body = publish_email(variables={"name": "Ada"})

    settled = make_consumer().run(idle_timeout=1)

    assert settled == 1
    [(_, properties)] = drain(rabbit_channel, FAILED_QUEUE)
    assert header(properties, "x-failure-reason") == "missing_variables: link"
    assert _delivery(body).last_error == "missing_variables: link"


def test_push_template_used_for_email_goes_to_failed_queue(
    make_consumer, publish_email, template_service, rabbit_channel
):
    template_service.add("push_only", channel="push", subject="", text_body="hi", html_body="")
    publish_email(template_code="push_only")

    make_consumer().run(idle_timeout=1)

    [(_, properties)] = drain(rabbit_channel, FAILED_QUEUE)
    assert header(properties, "x-failure-reason").startswith("template_invalid")


def test_body_that_is_not_json_goes_to_failed_queue_as_malformed(make_consumer, publish_email, rabbit_channel):
    publish_email(raw=b"{not json")

    settled = make_consumer().run(idle_timeout=1)

    assert settled == 1
    [(_, properties)] = drain(rabbit_channel, FAILED_QUEUE)
    assert header(properties, "x-failure-kind") == "malformed"
    assert drain(rabbit_channel, EMAIL_QUEUE) == [] and delay_queue_depth(rabbit_channel) == 0


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"schema": 2}, "schema must be 1"),
        ({"recipient": {"email": "not-an-address"}}, "recipient.email is not a valid address"),
        ({"variables": ["name"]}, "variables must be an object"),
        ({"template_code": ""}, "template_code is required"),
    ],
)
def test_message_breaking_the_contract_goes_to_failed_queue_and_is_reported_failed(
    make_consumer, publish_email, rabbit_channel, smtp_server, user_service, overrides, reason
):
    body = publish_email(**overrides)

    settled = make_consumer().run(idle_timeout=1)

    assert settled == 1
    [(_, properties)] = drain(rabbit_channel, FAILED_QUEUE)
    assert header(properties, "x-failure-kind") == "malformed"
    assert reason in header(properties, "x-failure-reason")
    assert _delivery(body).status == DeliveryStatus.FAILED
    assert user_service.statuses(body["notification_id"]) == ["failed"]
    assert smtp_server.messages == []


def test_message_without_a_notification_id_goes_to_failed_queue(make_consumer, publish_email, rabbit_channel):
    publish_email(notification_id="not-a-uuid")

    make_consumer().run(idle_timeout=1)

    [(_, properties)] = drain(rabbit_channel, FAILED_QUEUE)
    assert "notification_id must be a UUID" in header(properties, "x-failure-reason")
    assert not EmailNotification.objects.exists()


# -- circuit breaker -------------------------------------------------------------------------
def test_smtp_down_opens_the_circuit_messages_wait_and_are_delivered_when_it_is_back(
    make_consumer, publish_email, smtp_server, rabbit_channel, settings
):
    # Given an SMTP server that is down and a breaker that opens after two failures
    settings.EMAIL_SMTP_BREAKER_THRESHOLD = 2
    settings.EMAIL_SMTP_BREAKER_RESET_SECONDS = 0.5
    smtp_server.set_down(True)
    bodies = [publish_email(recipient={"email": f"u{n}@example.com"}) for n in range(3)]
    consumer = make_consumer(max_attempts=10)
    thread = run_in_thread(consumer)
    try:
        # When the circuit has opened (messages wait in the delay queues, not in the consumer)
        wait_until(lambda: consumer.sender.breaker.state != "closed")
        wait_until(lambda: any("smtp_circuit_open" in d.last_error for d in EmailNotification.objects.all()))
        # ... and the server comes back
        smtp_server.set_down(False)
        # Then every notification is delivered exactly once
        smtp_server.wait_for(3, timeout=10)
        wait_until(lambda: EmailNotification.objects.filter(status=DeliveryStatus.DELIVERED).count() == 3)
    finally:
        consumer.stop()
        thread.join(timeout=10)
    assert sorted(m.notification_id for m in smtp_server.messages) == sorted(b["notification_id"] for b in bodies)
    assert consumer.sender.breaker.state == "closed"
    assert drain(rabbit_channel, FAILED_QUEUE) == []


# -- status reports never block deliveries ------------------------------------------------
def test_user_service_down_does_not_block_delivery(make_consumer, publish_email, smtp_server, user_service):
    user_service.server.route("POST", STATUS_PATH, lambda request: (503, {"success": False}))
    body = publish_email()

    make_consumer(report_flush_seconds=0.3).run(max_messages=1, idle_timeout=5)

    assert len(smtp_server.wait_for(1)) == 1
    delivery = _delivery(body)
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.reported_status == ""  # reported again at the next start


# -- the sending lease ------------------------------------------------------------------------
def test_notification_being_sent_by_another_consumer_is_retried_later_not_sent(
    make_consumer, publish_email, smtp_server, rabbit_channel
):
    # Given a notification another consumer claimed a moment ago
    claimed = EmailNotificationFactory(status=DeliveryStatus.SENDING, claimed_at=timezone.now(), attempts=1)
    publish_email(notification_id=str(claimed.notification_id))

    make_consumer().run(max_messages=1, idle_timeout=5)

    assert smtp_server.messages == []
    assert delay_queue_depth(rabbit_channel) == 1
    claimed.refresh_from_db()
    assert claimed.status == DeliveryStatus.SENDING


def test_lease_left_by_a_crashed_consumer_is_taken_over_and_the_email_sent(
    make_consumer, publish_email, smtp_server, settings
):
    # Given a claim older than the lease (its consumer died between claim and commit; the
    # email may or may not have left: the documented window, docs/email_service.md)
    stale = timezone.now() - timedelta(seconds=settings.EMAIL_SENDING_LEASE_SECONDS + 1)
    claimed = EmailNotificationFactory(status=DeliveryStatus.SENDING, claimed_at=stale, attempts=1)
    publish_email(notification_id=str(claimed.notification_id))

    make_consumer().run(max_messages=1, idle_timeout=5)

    assert len(smtp_server.wait_for(1)) == 1
    claimed.refresh_from_db()
    assert (claimed.status, claimed.attempts) == (DeliveryStatus.DELIVERED, 2)


def test_failed_notification_replayed_from_failed_queue_is_delivered(make_consumer, publish_email, smtp_server):
    failed = EmailNotificationFactory(status=DeliveryStatus.FAILED, attempts=5, last_error="smtp_temporary_failure")
    publish_email(notification_id=str(failed.notification_id))

    make_consumer().run(max_messages=1, idle_timeout=5)

    assert len(smtp_server.wait_for(1)) == 1
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error) == (DeliveryStatus.DELIVERED, 6, "")
