"""The hand-over: the claim fenced (lease renewed, awaited) just before the DATA command, and
the mark sent right ahead of the message's end once the server said 354, so a worker killed
between the SMTP server's acceptance and the ``delivered`` commit leaves a row the next claim
recognises.
That email becomes failed/outcome_unknown and is never sent a second time
(docs/email_service.md, "State machine")."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from emails.clients import RenderedEmail
from emails.constants import AttemptOutcome, DeliveryStatus, FailureReason
from emails.models import EmailNotification
from emails.queue_messages import parse_email_request
from emails.services import email_batch_claim, email_handover_fence, email_handover_mark
from emails.tests.conftest import email_message, header, run_in_thread, wait_until
from emails.transport import EmailService, HandoverRefused
from notification_common.rabbitmq import EMAIL_QUEUE, FAILED_QUEUE
from notification_devtools.testing.processes import kill_9_when
from notification_devtools.testing.rabbit import drain

pytestmark = pytest.mark.django_db(transaction=True)

SERVICE_DIR = Path(__file__).resolve().parents[2]
FROM = "Notifications <noreply@example.com>"
RENDERED = RenderedEmail(subject="Hi", html_body="<p>Hi</p>", text_body="Hi", version=1, language="en")


def _row(notification_id) -> EmailNotification:
    return EmailNotification.objects.get(notification_id=notification_id)


def test_mark_is_committed_while_the_server_holds_the_email(make_consumer, publish_email, smtp_server):
    # Given an SMTP server that holds its answer to the first message
    received, release = smtp_server.hold_next_reply()
    body = publish_email()
    seen = {}
    thread = run_in_thread(make_consumer(), max_messages=1, idle_timeout=5)
    try:
        # When the server has the email and has not answered yet
        assert received.wait(10)

        def read_from_another_connection():
            def row():
                return EmailNotification.objects.values("status", "handed_over_at").get(
                    notification_id=body["notification_id"]
                )

            # the worker waits for the server's answer: the mark commits without its help
            wait_until(lambda: row()["handed_over_at"] is not None, timeout=5)
            seen["row"] = row()
            connection.close()

        reader = threading.Thread(target=read_from_another_connection)
        reader.start()
        reader.join(10)
    finally:
        release.set()
        thread.join(15)

    # Then the row was committed as handed over while the server held it (still "sending")
    assert seen["row"]["status"] == DeliveryStatus.SENDING
    assert seen["row"]["handed_over_at"] is not None
    # ... and after the answer it is delivered, keeping the moment of the hand-over
    row = _row(body["notification_id"])
    assert row.status == DeliveryStatus.DELIVERED and row.handed_over_at is not None


def test_worker_killed_after_the_hand_over_does_not_send_again(
    consumer_process_env, make_consumer, publish_email, smtp_server, user_service, rabbit_channel
):
    # Given a consumer process with a 1 s lease, and an SMTP server that keeps its answer
    received, release = smtp_server.hold_next_reply()
    body = publish_email()
    try:
        # When the process is killed -9 after the server received the email, before its answer
        kill_9_when(
            [sys.executable, "manage.py", "consume_emails", "--batch-size", "1", "--prefetch", "1"],
            received,
            cwd=SERVICE_DIR,
            env={**consumer_process_env, "EMAIL_SENDING_LEASE_SECONDS": "1"},
            timeout=20,
            what="email",
        )
    finally:
        release.set()
    notification_id = body["notification_id"]
    wait_until(lambda: _row(notification_id).lease_expires_at < timezone.now(), timeout=5)
    # ... and another consumer gets the redelivered message once the lease has run out
    make_consumer(lease_seconds=1).run(max_messages=1, idle_timeout=5)

    # Then the email was not sent again: failed as outcome_unknown, dead-lettered (for the
    # operators to see), reported failed
    assert len(smtp_server.find(notification_id=notification_id)) == 1
    row = _row(notification_id)
    assert row.status == DeliveryStatus.FAILED
    assert FailureReason.OUTCOME_UNKNOWN in row.last_error
    assert [a.outcome for a in row.attempt_log.all()] == [AttemptOutcome.OUTCOME_UNKNOWN]
    [(_, properties)] = drain(rabbit_channel, FAILED_QUEUE)
    assert header(properties, "x-failure-kind") == "permanent"
    assert header(properties, "x-failure-reason").startswith(FailureReason.OUTCOME_UNKNOWN)
    wait_until(lambda: user_service.statuses(notification_id), timeout=5)
    [report] = user_service.reports(notification_id)
    assert report["status"] == "failed" and FailureReason.OUTCOME_UNKNOWN in report["error"]
    assert drain(rabbit_channel, EMAIL_QUEUE) == []

    # ... and a replay of the dead letter does not send it either
    publish_email(body)
    make_consumer().run(max_messages=1, idle_timeout=5)
    assert len(smtp_server.find(notification_id=notification_id)) == 1
    assert drain(rabbit_channel, FAILED_QUEUE) == []


def test_later_copies_of_an_outcome_unknown_email_are_not_sent(make_consumer, publish_email, smtp_server):
    # Given a row handed over under a claim whose holder stopped (its lease already over)
    body = email_message()
    request = parse_email_request(body)
    stopped = email_batch_claim(requests=[request], lease_seconds=0, from_email=FROM)
    email_handover_mark(claim=stopped, delivery=stopped.claimed[request.notification_id], write=lambda: None)
    EmailNotification.objects.filter(notification_id=request.notification_id).update(lease_expires_at=timezone.now())

    # When the redelivered message and then a duplicate publish of it are consumed
    for _ in range(2):
        publish_email(body)
    make_consumer().run(max_messages=2, idle_timeout=5)

    # Then nothing was sent, and the row stays failed (never claimed again)
    assert smtp_server.messages == []
    row = _row(request.notification_id)
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 1)
    assert row.attempt_log.count() == 1


def test_refused_hand_over_sends_nothing_and_keeps_the_connection(smtp_server, settings):
    # Given an open SMTP connection
    sender = EmailService.from_settings()
    first, second = (parse_email_request(email_message()) for _ in range(2))

    def refuse():
        raise HandoverRefused("the claim was taken over by another consumer", claim_lost=True)

    # When the hook refuses the first email's hand-over
    with pytest.raises(HandoverRefused):
        sender.send(first, RENDERED, before_data=refuse)
    # Then the server did not get it, and the next email goes out on the same connection
    sender.send(second, RENDERED)
    assert [m.notification_id for m in smtp_server.messages] == [second.notification_id]
    assert sender.connections_opened == 1
    sender.close()


def test_hand_over_refused_once_the_claim_was_taken_over():
    request = parse_email_request(email_message())
    old = email_batch_claim(requests=[request], lease_seconds=0, from_email=FROM)
    new = email_batch_claim(requests=[request], lease_seconds=60, from_email=FROM)

    # the fence before DATA refuses the old claim ...
    with pytest.raises(HandoverRefused) as refused:
        email_handover_fence(claim=old, delivery=old.claimed[request.notification_id])
    assert refused.value.claim_lost and _row(request.notification_id).handed_over_at is None

    # ... and lets the new one through, whose mark goes right ahead of its write
    written = []
    email_handover_fence(claim=new, delivery=new.claimed[request.notification_id])
    email_handover_mark(claim=new, delivery=new.claimed[request.notification_id], write=lambda: written.append(1))
    assert written == [1] and _row(request.notification_id).handed_over_at is not None


def test_a_claim_in_the_first_half_of_its_lease_is_fenced_without_asking_the_database():
    request = parse_email_request(email_message())
    claim = email_batch_claim(requests=[request], lease_seconds=60, from_email=FROM)

    with CaptureQueriesContext(connection) as queries:
        email_handover_fence(claim=claim, delivery=claim.claimed[request.notification_id])

    assert len(queries) == 0


def test_data_refused_after_the_mark_clears_it_and_the_retry_sends_once(make_consumer, publish_email, smtp_server):
    # Given an SMTP server that answers 451 to the first DATA (after the mark was committed)
    smtp_server.fail_next(1, code=451, stage="data")
    body = publish_email()

    make_consumer().run(max_messages=2, idle_timeout=5)

    # Then the refusal cleared the mark (the server has nothing), and the retry delivered once
    assert len(smtp_server.find(notification_id=body["notification_id"])) == 1
    row = _row(body["notification_id"])
    assert row.status == DeliveryStatus.DELIVERED
    assert [a.outcome for a in row.attempt_log.order_by("attempt_number")] == [
        AttemptOutcome.TRANSIENT_FAILURE,
        AttemptOutcome.SENT,
    ]


def test_a_mark_the_database_cannot_take_refuses_the_hand_over_and_nothing_is_sent(database_proxy, smtp_server):
    # Given a claimed email, and the database cut just before its hand-over
    request = parse_email_request(email_message())
    claim = email_batch_claim(requests=[request], lease_seconds=60, from_email=FROM)
    claim.sure_until = 0.0  # past the first half of the lease: the fence must ask the database
    row = claim.claimed[request.notification_id]
    sender = EmailService.from_settings()
    database_proxy.cut()

    # When the sender reaches DATA
    with pytest.raises(HandoverRefused) as refused:
        sender.send(request, RENDERED, before_data=lambda: email_handover_fence(claim=claim, delivery=row))

    # Then the hand-over was refused as a database outage (not a lost claim) and the server got nothing
    assert not refused.value.claim_lost
    assert refused.value.reason.startswith(FailureReason.DATABASE_UNAVAILABLE)
    assert smtp_server.messages == []
    # ... and once the database is back the same claim hands it over, on the same connection
    database_proxy.restore()
    sender.send(
        request,
        RENDERED,
        before_data=lambda: email_handover_fence(claim=claim, delivery=row),
        hand_over=lambda write: email_handover_mark(claim=claim, delivery=row, write=write),
    )
    assert [m.notification_id for m in smtp_server.messages] == [request.notification_id]
    assert _row(request.notification_id).handed_over_at is not None
    assert sender.connections_opened == 1
    sender.close()
