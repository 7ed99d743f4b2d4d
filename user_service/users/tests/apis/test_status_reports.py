"""POST /api/v1/{email|push}/status/ and GET /api/v1/notifications/{id}/status/ (internal)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from notification_devtools.testing import assert_envelope
from users.models import NotificationLog, NotificationStatusEvent

pytestmark = pytest.mark.django_db

EMAIL = "/api/v1/email/status/"
PUSH = "/api/v1/push/status/"
T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def at(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def report(notification_id, status="delivered", seconds=0, **extra) -> dict:
    return {"notification_id": str(notification_id), "status": status, "timestamp": at(seconds), "error": None} | extra


def status_of(client, notification_id) -> dict:
    return assert_envelope(client.get(f"/api/v1/notifications/{notification_id}/status/"), status=200)["data"]


@pytest.fixture
def nid():
    return uuid.uuid4()


def test_first_report_creates_the_log_row_with_user_and_channel(internal_client, nid):
    user_id = uuid.uuid4()

    response = internal_client.post(PUSH, report(nid, "pending", user_id=str(user_id), attempt=1))

    assert assert_envelope(response, status=200)["data"] == {
        "notification_id": str(nid),
        "outcome": "created",
        "status": "pending",
    }
    log = NotificationLog.objects.get(notification_id=nid)
    assert (log.user_id, log.channel, log.status, log.attempts) == (user_id, "push", "pending", 1)


def test_first_report_without_user_id_still_creates_the_row(internal_client, nid):
    internal_client.post(EMAIL, report(nid))

    assert NotificationLog.objects.get(notification_id=nid).user_id is None


def test_a_later_report_fills_in_a_missing_user_id(internal_client, nid):
    user_id = uuid.uuid4()
    internal_client.post(EMAIL, report(nid, "pending"))

    internal_client.post(EMAIL, report(nid, "delivered", 5, user_id=str(user_id)))

    assert NotificationLog.objects.get(notification_id=nid).user_id == user_id


def test_final_status_overwrites_pending(internal_client, nid):
    internal_client.post(EMAIL, report(nid, "pending", 0))

    body = assert_envelope(internal_client.post(EMAIL, report(nid, "delivered", 5)), status=200)

    assert body["data"]["outcome"] == "updated"
    assert status_of(internal_client, nid)["status"] == "delivered"


def test_final_status_overwrites_pending_even_with_an_older_timestamp(internal_client, nid):
    internal_client.post(EMAIL, report(nid, "pending", 10))

    internal_client.post(EMAIL, report(nid, "failed", 5, error="550 no such user"))

    data = status_of(internal_client, nid)
    assert (data["status"], data["error"]) == ("failed", "550 no such user")


@pytest.mark.parametrize("final", ["delivered", "failed"])
def test_late_pending_never_overwrites_a_final_status(internal_client, nid, final):
    internal_client.post(EMAIL, report(nid, final, 5))

    body = assert_envelope(internal_client.post(EMAIL, report(nid, "pending", 10)), status=200)

    assert body["data"] == {"notification_id": str(nid), "outcome": "recorded", "status": final}
    assert status_of(internal_client, nid)["status"] == final


def test_newer_final_replaces_an_older_final_as_a_replayed_dead_letter_does(internal_client, nid):
    internal_client.post(EMAIL, report(nid, "failed", 5, error="timeout"))

    internal_client.post(EMAIL, report(nid, "delivered", 60))

    data = status_of(internal_client, nid)
    assert (data["status"], data["error"]) == ("delivered", None)


def test_older_final_does_not_replace_a_newer_final(internal_client, nid):
    internal_client.post(EMAIL, report(nid, "delivered", 60))

    internal_client.post(EMAIL, report(nid, "failed", 5, error="timeout"))

    assert status_of(internal_client, nid)["status"] == "delivered"


def test_repeated_report_changes_nothing(internal_client, nid):
    internal_client.post(EMAIL, report(nid, "delivered", 5, attempt=2))
    before = NotificationLog.objects.get(notification_id=nid)

    body = assert_envelope(internal_client.post(EMAIL, report(nid, "delivered", 5, attempt=2)), status=200)

    after = NotificationLog.objects.get(notification_id=nid)
    assert body["data"]["outcome"] == "duplicate"
    assert after.updated_at == before.updated_at
    assert NotificationStatusEvent.objects.filter(log=after).count() == 1


def test_history_lists_every_distinct_report_in_time_order(internal_client, nid):
    internal_client.post(EMAIL, report(nid, "pending", 0, attempt=1, error="421 try later"))
    internal_client.post(EMAIL, report(nid, "delivered", 30, attempt=2))
    internal_client.post(EMAIL, report(nid, "pending", 10, attempt=2))  # arrived late

    data = status_of(internal_client, nid)

    assert [(h["status"], h["attempt"]) for h in data["history"]] == [("pending", 1), ("pending", 2), ("delivered", 2)]
    assert data["history"][0]["error"] == "421 try later"
    assert data["attempts"] == 2
    assert set(data) >= {"notification_id", "user_id", "channel", "status", "error", "attempts", "updated_at"}


def test_report_for_a_notification_of_the_other_channel_answers_409(internal_client, nid):
    internal_client.post(EMAIL, report(nid, "pending"))

    body = assert_envelope(
        internal_client.post(PUSH, report(nid, "delivered", 5)), status=409, error="channel_mismatch"
    )

    assert "channel" in body["data"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("notification_id", "not-a-uuid"),
        ("notification_id", None),
        ("status", "sent"),
        ("timestamp", "yesterday"),
        ("user_id", "nope"),
        ("attempt", -1),
        ("metadata", "x"),
    ],
)
def test_invalid_report_field_is_named_in_a_400(internal_client, nid, field, value):
    response = internal_client.post(EMAIL, report(nid) | {field: value})

    assert field in assert_envelope(response, status=400, error="validation_error")["data"]


@pytest.mark.parametrize("field", ["notification_id", "status", "timestamp"])
def test_missing_report_field_is_named_in_a_400(internal_client, nid, field):
    body = report(nid)
    del body[field]

    assert field in assert_envelope(internal_client.post(EMAIL, body), status=400, error="validation_error")["data"]


def test_a_body_that_is_neither_object_nor_list_answers_400(internal_client):
    assert_envelope(internal_client.post(EMAIL, "42", content_type="application/json"), status=400)


def test_list_of_reports_answers_per_item(internal_client):
    good, other = uuid.uuid4(), uuid.uuid4()

    response = internal_client.post(
        EMAIL, [report(good, "pending"), report(good, "delivered", 5), {"notification_id": "x"}, report(other)]
    )

    data = assert_envelope(response, status=200)["data"]
    assert (data["accepted"], data["rejected"]) == (3, 1)
    assert [r["outcome"] for r in data["results"]] == ["created", "updated", "rejected", "created"]
    assert set(data["results"][2]["errors"]) >= {"notification_id", "status", "timestamp"}
    assert NotificationLog.objects.get(notification_id=good).status == "delivered"


def test_a_rejected_item_does_not_undo_the_others(internal_client, nid):
    internal_client.post(PUSH, report(nid, "pending"))
    fresh = uuid.uuid4()

    data = internal_client.post(EMAIL, [report(nid, "delivered", 5), report(fresh)]).json()["data"]

    assert data["results"][0]["error"] == "channel_mismatch"
    assert NotificationLog.objects.filter(notification_id=fresh).exists()


def test_a_list_with_no_valid_report_answers_400_with_the_results(internal_client):
    body = assert_envelope(internal_client.post(EMAIL, [{"status": "x"}, 3]), status=400, error="validation_error")

    assert body["data"]["rejected"] == 2


def test_an_empty_list_answers_400(internal_client):
    assert_envelope(internal_client.post(EMAIL, []), status=400, error="validation_error")


def test_a_list_over_the_batch_limit_answers_400(internal_client, settings):
    settings.STATUS_REPORT_MAX_BATCH = 2

    response = internal_client.post(EMAIL, [report(uuid.uuid4()) for _ in range(3)])

    assert_envelope(response, status=400, error="validation_error")


def test_status_reporter_batches_are_accepted(internal_client):
    """The shape notification_common.status_reports.StatusReporter sends."""
    from dataclasses import asdict

    from notification_common.status_reports import StatusReport

    batch = [asdict(StatusReport(notification_id=str(uuid.uuid4()), status="delivered", attempt=1)) for _ in range(3)]

    data = assert_envelope(internal_client.post(PUSH, batch), status=200)["data"]

    assert data["accepted"] == 3


@pytest.mark.parametrize("url", [EMAIL, PUSH])
def test_reports_need_an_internal_key(sender_client, url, nid):
    assert_envelope(sender_client.post(url, report(nid)), status=403, error="permission_denied")


def test_reports_without_credentials_answer_401(api_client, nid):
    assert_envelope(api_client.post(EMAIL, report(nid)), status=401, error="not_authenticated")


def test_reports_with_a_user_token_answer_403(as_user, user, nid):
    assert_envelope(as_user(user).post(EMAIL, report(nid)), status=403)


def test_status_of_an_unknown_notification_answers_404(internal_client):
    response = internal_client.get(f"/api/v1/notifications/{uuid.uuid4()}/status/")

    assert_envelope(response, status=404, error="not_found")


def test_status_needs_an_internal_key(as_user, user, nid):
    internal = uuid.uuid4()

    assert_envelope(as_user(user).get(f"/api/v1/notifications/{internal}/status/"), status=403)


def test_a_very_long_error_is_cut_not_refused(internal_client, nid):
    response = internal_client.post(EMAIL, report(nid, "failed", error="x" * 20_000))

    assert_envelope(response, status=200)
    assert len(NotificationLog.objects.get(notification_id=nid).error) == 5000
