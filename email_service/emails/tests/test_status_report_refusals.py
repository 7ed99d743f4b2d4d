"""A status report the user service refuses (a revoked or mistyped service key) is never marked
reported: it waits, and the next consumer start sends it again once the key works
(notification_common.status_reports; docs/operations.md, "Outages")."""

import pytest

from emails.constants import DeliveryStatus
from emails.tests.conftest import STATUS_PATH
from emails.tests.factories import DeliveredEmailFactory
from notification_common.status_reports import StatusReporter

pytestmark = pytest.mark.django_db


def refuse_with(stub_server, status: int) -> None:
    stub_server.route(
        "POST", STATUS_PATH, lambda request: (status, {"success": False, "data": None, "error": "refused"})
    )


def test_a_report_refused_with_401_stays_unreported_and_is_sent_at_the_next_start(
    make_consumer, user_service, stub_server
):
    # Given a delivered email whose report died with the process that queued it,
    # and a user service that refuses our key
    delivered = DeliveredEmailFactory(reported_status="")
    refuse_with(stub_server, 401)

    # When a consumer starts and stops again
    make_consumer(report_flush_seconds=0.5, reporter=StatusReporter("email", max_backoff=0.05)).run(idle_timeout=0.5)

    # Then the user service was asked, and the report is still not marked reported
    assert user_service.statuses(str(delivered.notification_id))
    delivered.refresh_from_db()
    assert delivered.reported_status == ""

    # When the key is fixed and a consumer starts again
    stub_server.route("POST", STATUS_PATH, lambda request: (200, {"success": True, "data": None, "error": None}))
    make_consumer().run(idle_timeout=0.5)

    # Then it lands and is marked reported
    delivered.refresh_from_db()
    assert delivered.reported_status == DeliveryStatus.DELIVERED
