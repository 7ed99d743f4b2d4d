"""The sending claim is fenced: a consumer whose lease ran out and was taken over neither sends
nor stores an outcome, a sent email is stored at once (no later claim can send it again), and
final states never go back (docs/email_service.md, "State machine")."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from emails.constants import AttemptOutcome, DeliveryStatus
from emails.errors import DeliveryFailure
from emails.models import EmailNotification
from emails.queue_messages import parse_email_request
from emails.services import (
    AttemptRecord,
    email_batch_claim,
    email_batch_finalize,
    email_claim_holds,
    email_claim_renew,
    email_mark_failed,
)
from emails.tests.conftest import STATUS_PATH, email_message, run_in_thread, wait_until
from emails.tests.factories import DeliveredEmailFactory, EmailNotificationFactory
from emails.transport import EmailService
from notification_common.rabbitmq import FAILED_QUEUE
from notification_devtools.testing.rabbit import drain

pytestmark = pytest.mark.django_db(transaction=True)

FROM = "Notifications <noreply@example.com>"
SHORT_LEASE = 0.5


def _request(body: dict):
    return parse_email_request(body)


def _row(notification_id) -> EmailNotification:
    return EmailNotification.objects.get(notification_id=notification_id)


def _stall_template_calls(template_service, *, when) -> threading.Event:
    """Make the template service hold every call for which ``when(request)`` is true until
    the returned event is set (then it answers normally). Wraps whatever routes the stub
    serves, so it does not depend on which template endpoint the renderer uses."""
    release = threading.Event()
    server = template_service.server

    def stalling(answer):
        def handle(request):
            if when(request):
                release.wait(10)
            return answer(request)

        return handle

    for key, answer in list(server.routes.items()):
        if key != ("POST", STATUS_PATH):
            server.routes[key] = stalling(answer)
    return release


# -- the fencing token, at the service level ------------------------------------------------
def test_claim_taken_over_after_its_lease_is_not_renewed_for_the_old_holder():
    # Given consumer A's claim, whose lease has run out (0 s), and a redelivered copy
    # claimed by consumer B
    request = _request(email_message())
    first = email_batch_claim(requests=[request], lease_seconds=0, from_email=FROM)
    second = email_batch_claim(requests=[request], lease_seconds=60, from_email=FROM)
    row = _row(request.notification_id)

    # When each holder renews before sending
    # Then only B still holds the row; A must not send
    assert list(second.claimed) == [request.notification_id]
    assert email_claim_renew(claim=first) == set()
    assert email_claim_renew(claim=second) == {row.pk}
    assert (row.status, row.claim_token, row.attempts) == (DeliveryStatus.SENDING, second.token, 2)


def test_young_claim_is_known_to_hold_its_rows_without_a_statement(django_assert_num_queries):
    request = _request(email_message())
    claim = email_batch_claim(requests=[request], lease_seconds=60, from_email=FROM)

    with django_assert_num_queries(0):
        assert email_claim_holds(claim=claim, delivery=claim.claimed[request.notification_id])


def test_holder_past_half_its_lease_asks_and_learns_it_was_taken_over():
    request = _request(email_message())
    first = email_batch_claim(requests=[request], lease_seconds=0, from_email=FROM)
    email_batch_claim(requests=[request], lease_seconds=60, from_email=FROM)

    assert email_claim_holds(claim=first, delivery=first.claimed[request.notification_id]) is False


def test_live_claim_makes_a_redelivered_copy_wait():
    request = _request(email_message())
    email_batch_claim(requests=[request], lease_seconds=60, from_email=FROM)

    copy = email_batch_claim(requests=[request], lease_seconds=60, from_email=FROM)

    assert copy.claimed == {}
    assert 55 < copy.busy[request.notification_id] <= 60


def test_outcome_of_a_taken_over_claim_is_not_stored():
    # Given A's expired claim taken over by B
    request = _request(email_message())
    first = email_batch_claim(requests=[request], lease_seconds=0, from_email=FROM)
    second = email_batch_claim(requests=[request], lease_seconds=60, from_email=FROM)
    failure = DeliveryFailure.permanent_failure("smtp_rejected: 554 no")

    # When A stores a (permanent) failure
    applied = email_batch_finalize(
        token=first.token, records=[AttemptRecord(first.claimed[request.notification_id], request, None, failure)]
    )

    # Then nothing changes: the row is B's
    row = _row(request.notification_id)
    assert applied == []
    assert (row.status, row.claim_token, row.attempt_log.count()) == (DeliveryStatus.SENDING, second.token, 0)


# -- stalls longer than the lease, through real consumers -----------------------------------
def test_template_service_stalling_past_the_lease_sends_the_email_once(
    make_consumer, publish_email, smtp_server, template_service, rabbit_channel
):
    # Given consumer A holding a message whose render stalls longer than A's lease
    release = _stall_template_calls(template_service, when=lambda request: len(template_service.calls) == 1)
    body = publish_email()
    first = make_consumer(lease_seconds=SHORT_LEASE, prefetch_count=1, batch_size=1)
    thread = run_in_thread(first, max_messages=1, idle_timeout=10)
    try:
        wait_until(lambda: len(template_service.calls) == 1)
        claimed_at = _row(body["notification_id"]).claimed_at
        wait_until(lambda: timezone.now() > claimed_at + timedelta(seconds=SHORT_LEASE))

        # When a redelivered copy reaches a second consumer meanwhile, and then the stall ends
        publish_email(body)
        make_consumer(lease_seconds=SHORT_LEASE).run(max_messages=1, idle_timeout=5)
        assert len(smtp_server.wait_for(1)) == 1
    finally:
        release.set()
        thread.join(10)
    assert not thread.is_alive()

    # Then exactly one email left, stored once, and nothing is dead-lettered
    assert len(smtp_server.find(notification_id=body["notification_id"])) == 1
    row = _row(body["notification_id"])
    assert row.status == DeliveryStatus.DELIVERED
    assert [a.outcome for a in row.attempt_log.all()] == [AttemptOutcome.SENT]
    assert drain(rabbit_channel, FAILED_QUEUE) == []


class _SMTPStallingAfterFirstSend(EmailService):
    """The real SMTP sender, stalled (failure injected at the SMTP boundary) before every send
    after the first one until ``release`` is set."""

    release: threading.Event
    sends = 0

    def send(self, request, rendered, **kwargs):
        if self.sends:
            self.release.wait(10)
        self.sends += 1
        return super().send(request, rendered, **kwargs)


def test_email_sent_before_a_stall_is_not_sent_again_by_a_redelivered_copy(make_consumer, publish_email, smtp_server):
    # Given consumer A with a batch of two: the first email goes out, then A stalls longer
    # than the lease before the second
    sender = _SMTPStallingAfterFirstSend.from_settings()
    sender.release = threading.Event()
    bodies = {body["notification_id"]: body for body in (publish_email(), publish_email())}
    first = make_consumer(lease_seconds=SHORT_LEASE, prefetch_count=2, batch_size=2, sender=sender)
    thread = run_in_thread(first, max_messages=2, idle_timeout=10)
    try:
        [sent] = smtp_server.wait_for(1)
        first_sent_at = timezone.now()
        wait_until(lambda: timezone.now() > first_sent_at + timedelta(seconds=SHORT_LEASE))

        # When a redelivered copy of the email already sent reaches a second consumer
        publish_email(bodies[sent.notification_id])
        make_consumer(lease_seconds=SHORT_LEASE).run(max_messages=1, idle_timeout=5)
    finally:
        sender.release.set()
        thread.join(10)
    assert not thread.is_alive()

    # Then each email left once
    for notification_id in bodies:
        assert len(smtp_server.find(notification_id=notification_id)) == 1
        assert _row(notification_id).status == DeliveryStatus.DELIVERED


# -- final states never go back ----------------------------------------------------------------
def test_dead_lettered_duplicate_does_not_fail_a_delivered_email():
    delivered = DeliveredEmailFactory()

    assert email_mark_failed(notification_id=str(delivered.notification_id), failure_reason="x") is None

    delivered.refresh_from_db()
    assert (delivered.status, delivered.last_error) == (DeliveryStatus.DELIVERED, "")


def test_dead_lettered_duplicate_does_not_fail_an_email_under_a_live_claim():
    now = timezone.now()
    sending = EmailNotificationFactory(
        status=DeliveryStatus.SENDING, claimed_at=now, lease_expires_at=now + timedelta(seconds=60), attempts=1
    )

    assert email_mark_failed(notification_id=str(sending.notification_id), failure_reason="x") is None

    sending.refresh_from_db()
    assert sending.status == DeliveryStatus.SENDING


@pytest.mark.parametrize("status", [DeliveryStatus.PENDING, DeliveryStatus.SENDING])
def test_dead_letter_fails_a_pending_email_or_one_whose_claim_ran_out(status):
    long_ago = timezone.now() - timedelta(hours=1)
    row = EmailNotificationFactory(status=status, claimed_at=long_ago, lease_expires_at=long_ago, attempts=1)

    failed = email_mark_failed(notification_id=str(row.notification_id), failure_reason="max_attempts_exceeded: x")

    row.refresh_from_db()
    assert failed is not None
    assert (row.status, row.last_error, row.lease_expires_at) == (
        DeliveryStatus.FAILED,
        "max_attempts_exceeded: x",
        None,
    )


def test_last_copy_of_a_notification_being_sent_elsewhere_is_dead_lettered_without_failing_it(
    make_consumer, publish_email, smtp_server, user_service, rabbit_channel
):
    # Given a notification another consumer is sending right now, and a duplicate of its
    # message on its last attempt
    now = timezone.now()
    sending = EmailNotificationFactory(
        status=DeliveryStatus.SENDING, claimed_at=now, lease_expires_at=now + timedelta(seconds=60), attempts=1
    )
    publish_email(notification_id=str(sending.notification_id), headers={"x-attempt": 5})

    # When the duplicate is handled (busy on its last attempt: dead-lettered as exhausted)
    make_consumer(max_attempts=5, report_flush_seconds=0.5).run(max_messages=1, idle_timeout=5)

    # Then the delivery is still the other consumer's, and no "failed" was reported
    assert len(drain(rabbit_channel, FAILED_QUEUE)) == 1
    sending.refresh_from_db()
    assert sending.status == DeliveryStatus.SENDING
    assert smtp_server.messages == []
    assert "failed" not in user_service.statuses(str(sending.notification_id))
