"""Set-based status recording: a constant number of statements per batch, and the same end
state whatever the order of the reports in a batch."""

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notification_common.exceptions import ApplicationError
from users.delivery_status import StatusReport, notification_status_record_batch
from users.models import NotificationLog, NotificationStatusEvent

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def report(nid, status, seconds=0, **extra) -> StatusReport:
    return StatusReport(notification_id=nid, status=status, timestamp=T0 + timedelta(seconds=seconds), **extra)


def statements_for(reports) -> int:
    with CaptureQueriesContext(connection) as queries:
        notification_status_record_batch(channel="email", reports=reports)
    return len([q for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))])


def test_a_batch_takes_the_same_number_of_statements_whatever_its_size():
    one = statements_for([report(uuid.uuid4(), "delivered")])
    existing = [uuid.uuid4() for _ in range(50)]
    notification_status_record_batch(channel="email", reports=[report(n, "pending") for n in existing])

    many = statements_for(
        [report(n, "delivered", 5, attempt=2) for n in existing] + [report(uuid.uuid4(), "failed") for _ in range(50)]
    )

    assert many == one == 3
    assert NotificationLog.objects.filter(notification_id__in=existing, status="delivered", attempts=2).count() == 50


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_the_end_state_does_not_depend_on_the_order_of_reports(order):
    nid, user_id = uuid.uuid4(), uuid.uuid4()
    reports = [
        report(nid, "pending", 0, attempt=1, error="421 later"),
        report(nid, "failed", 20, attempt=3, error="timeout"),
        report(nid, "delivered", 30, attempt=2, user_id=user_id),
        report(nid, "pending", 40, attempt=2),  # arrives late: never overwrites a final
    ]

    notification_status_record_batch(channel="push", reports=[reports[i] for i in order])

    log = NotificationLog.objects.get(notification_id=nid)
    assert (log.status, log.error, log.attempts, log.user_id, log.channel) == ("delivered", "", 3, user_id, "push")
    assert log.last_timestamp == T0 + timedelta(seconds=30)
    assert NotificationStatusEvent.objects.filter(log=log).count() == 4


def test_outcomes_are_labelled_as_if_applied_in_order():
    nid = uuid.uuid4()

    results = notification_status_record_batch(
        channel="email",
        reports=[
            report(nid, "pending", 0),
            report(nid, "delivered", 5),
            report(nid, "pending", 10),
            report(nid, "delivered", 5),
        ],
    )

    assert [(r.outcome, r.status) for r in results] == [
        ("created", "pending"),
        ("updated", "delivered"),
        ("recorded", "delivered"),
        ("duplicate", "delivered"),
    ]


def test_a_report_for_the_other_channel_is_refused_and_the_rest_applied():
    pushed, fresh = uuid.uuid4(), uuid.uuid4()
    notification_status_record_batch(channel="push", reports=[report(pushed, "pending")])

    results = notification_status_record_batch(
        channel="email", reports=[report(pushed, "delivered", 5), report(fresh, "delivered", 5)]
    )

    assert isinstance(results[0], ApplicationError) and results[0].code == "channel_mismatch"
    assert results[1].outcome == "created"
    assert NotificationLog.objects.get(notification_id=pushed).status == "pending"
    assert NotificationStatusEvent.objects.filter(log__notification_id=pushed).count() == 1


def test_an_exact_repeat_leaves_the_row_untouched():
    nid = uuid.uuid4()
    notification_status_record_batch(channel="email", reports=[report(nid, "delivered", 5, attempt=2)])
    before = NotificationLog.objects.get(notification_id=nid).updated_at

    (result,) = notification_status_record_batch(channel="email", reports=[report(nid, "delivered", 5, attempt=2)])

    assert result.outcome == "duplicate"
    assert NotificationLog.objects.get(notification_id=nid).updated_at == before
