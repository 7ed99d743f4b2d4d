"""Quiet hours: a notification below QUIET_HOURS_URGENT_PRIORITY that falls inside the user's
quiet hours is deferred to their end (scheduled, published by the relay), never dropped."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from notification_common.rabbitmq import EMAIL_QUEUE
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.rabbit import drain
from notifications.models import OutboxMessage
from notifications.quiet_hours import quiet_hours_end
from notifications.senders import Sender
from notifications.services.intake import notification_accept
from notifications.services.outbox import outbox_relay_batch
from notifications.tests.conftest import notification_body

NIGHT = {"start": "22:00", "end": "07:00"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- the window ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "moment, zone, window, expected",
    [
        ("2026-06-10T23:30:00+00:00", "UTC", NIGHT, "2026-06-11T07:00:00+00:00"),  # before midnight
        ("2026-06-11T03:00:00+00:00", "UTC", NIGHT, "2026-06-11T07:00:00+00:00"),  # after midnight
        ("2026-06-10T22:00:00+00:00", "UTC", NIGHT, "2026-06-11T07:00:00+00:00"),  # the start is inside
        ("2026-06-11T07:00:00+00:00", "UTC", NIGHT, None),  # the end is outside
        ("2026-06-10T12:00:00+00:00", "UTC", NIGHT, None),
        ("2026-06-10T12:30:00+00:00", "UTC", {"start": "12:00", "end": "13:30"}, "2026-06-10T13:30:00+00:00"),
        ("2026-06-10T13:45:00+00:00", "UTC", {"start": "12:00", "end": "13:30"}, None),
        # 01:30 UTC is 22:30 in Sao Paulo (UTC-3): quiet until 07:00 there, 10:00 UTC
        ("2026-06-11T01:30:00+00:00", "America/Sao_Paulo", NIGHT, "2026-06-11T10:00:00+00:00"),
        # Lisbon moves from UTC+0 to UTC+1 on 2027-03-28 at 01:00: 07:00 local is 06:00 UTC
        ("2027-03-27T23:00:00+00:00", "Europe/Lisbon", NIGHT, "2027-03-28T06:00:00+00:00"),
        ("2026-06-10T14:00:00+00:00", "UTC", {"start": "13:59:50", "end": "14:00:05"}, "2026-06-10T14:00:05+00:00"),
    ],
)
def test_quiet_hours_end(moment, zone, window, expected):
    ends = quiet_hours_end(moment=at(moment), timezone_name=zone, quiet_hours=window)

    assert ends == (at(expected) if expected else None)


def test_an_end_skipped_by_a_dst_jump_still_lies_after_the_moment():
    # Lisbon skips 01:00-02:00 on 2027-03-28; a window ending at 01:30 ends after the jump.
    ends = quiet_hours_end(
        moment=at("2027-03-28T00:30:00+00:00"),
        timezone_name="Europe/Lisbon",
        quiet_hours={"start": "00:00", "end": "01:30"},
    )

    assert ends is not None and ends > at("2027-03-28T00:30:00+00:00")


@pytest.mark.parametrize(
    "zone, window",
    [
        ("UTC", None),
        ("UTC", {}),
        ("Nowhere/Nothing", NIGHT),
        ("UTC", {"start": "22:00"}),
        ("UTC", {"start": "x", "end": "y"}),
    ],
)
def test_no_usable_quiet_hours_never_defers(zone, window):
    assert quiet_hours_end(moment=at("2026-06-10T23:30:00+00:00"), timezone_name=zone, quiet_hours=window) is None


# -- accepting -----------------------------------------------------------------------------------


def add_user_with_quiet_hours(user_service, *, zone="UTC", quiet_hours=NIGHT) -> str:
    user_id = str(uuid.uuid4())
    user = {
        "id": user_id,
        "name": "Ada",
        "email": "ada@example.com",
        "is_active": True,
        "preferences": {"email": True, "push": True, "timezone": zone, "quiet_hours": quiet_hours},
        "devices": [],
        "created_at": "2026-11-24T01:00:00+00:00",
    }
    user_service.server.reply("GET", user_service.user_path(user_id), 200, user)
    return user_id


def accept(user_id, *, now, **overrides):
    fields = dict(notification_body(user_id), request_id=None, trace_id="t")
    fields.update(overrides)
    return notification_accept(sender=Sender(label="key:test"), now=now, **fields).notification


@pytest.mark.django_db
def test_a_notification_inside_quiet_hours_is_scheduled_for_their_end(user_service, rabbit_channel):
    user_id = add_user_with_quiet_hours(user_service, zone="America/Sao_Paulo")
    now = at("2026-06-11T01:30:00+00:00")  # 22:30 in Sao Paulo

    notification = accept(user_id, now=now)

    assert notification.status == "scheduled"
    assert notification.quiet_hours_deferred is True
    assert notification.send_at == at("2026-06-11T10:00:00+00:00")
    outbox = OutboxMessage.objects.get(notification=notification)
    assert outbox.due_at == notification.send_at
    # held until then, and published by the relay when due
    assert (
        outbox_relay_batch(batch_size=10, grace_seconds=0, now=notification.send_at - timedelta(seconds=1)).taken == 0
    )
    assert outbox_relay_batch(batch_size=10, grace_seconds=0, now=notification.send_at).published == 1
    assert [m["notification_id"] for m, _ in drain(rabbit_channel, EMAIL_QUEUE)] == [str(notification.pk)]


@pytest.mark.django_db
def test_a_notification_outside_quiet_hours_goes_at_once(user_service):
    user_id = add_user_with_quiet_hours(user_service)

    notification = accept(user_id, now=at("2026-06-10T12:00:00+00:00"))

    assert (notification.status, notification.send_at, notification.quiet_hours_deferred) == ("pending", None, False)


@pytest.mark.django_db
def test_an_urgent_notification_is_not_deferred(user_service, settings):
    settings.QUIET_HOURS_URGENT_PRIORITY = 9
    user_id = add_user_with_quiet_hours(user_service)

    notification = accept(user_id, now=at("2026-06-10T23:30:00+00:00"), priority=9)

    assert (notification.status, notification.quiet_hours_deferred) == ("pending", False)


@pytest.mark.django_db
def test_bypass_quiet_hours_with_an_api_key_sends_at_once(user_service):
    user_id = add_user_with_quiet_hours(user_service)

    notification = accept(user_id, now=at("2026-06-10T23:30:00+00:00"), bypass_quiet_hours=True)

    assert (notification.status, notification.quiet_hours_deferred) == ("pending", False)


@pytest.mark.django_db
def test_a_send_at_inside_quiet_hours_moves_to_their_end(user_service):
    user_id = add_user_with_quiet_hours(user_service)
    now = at("2026-06-10T12:00:00+00:00")

    notification = accept(user_id, now=now, send_at=at("2026-06-10T23:00:00+00:00"))

    assert notification.send_at == at("2026-06-11T07:00:00+00:00")
    assert notification.quiet_hours_deferred is True


# -- over HTTP (quiet hours placed around the real clock) ---------------------------------------


def window_around_now() -> dict:
    now = timezone.now().astimezone(UTC)
    return {"start": (now - timedelta(hours=1)).strftime("%H:%M"), "end": (now + timedelta(hours=1)).strftime("%H:%M")}


@pytest.mark.django_db
def test_the_answer_says_scheduled_deferred_with_the_time(send, user_service):
    user_id = add_user_with_quiet_hours(user_service, quiet_hours=window_around_now())

    body = assert_envelope(send(notification_body(user_id)), status=202)

    assert body["message"] == "Notification scheduled: deferred to the end of the user's quiet hours."
    data = body["data"]
    assert (data["status"], data["quiet_hours_deferred"], data["queued"]) == ("scheduled", True, False)
    send_at = datetime.fromisoformat(data["send_at"])
    assert timezone.now() < send_at <= timezone.now() + timedelta(hours=1)


@pytest.mark.django_db
def test_bypass_quiet_hours_with_a_user_token_is_403(send, user_service, user_token):
    user_id = add_user_with_quiet_hours(user_service, quiet_hours=window_around_now())

    response = send(notification_body(user_id, bypass_quiet_hours=True), token=user_token(user_id))

    body = assert_envelope(response, status=403, error="permission_denied")
    assert "bypass_quiet_hours" in body["data"]


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["true", 1, None, {"yes": True}])
def test_bypass_quiet_hours_must_be_a_boolean(send, user_service, value):
    user_id = add_user_with_quiet_hours(user_service)

    response = send(notification_body(user_id, bypass_quiet_hours=value))

    body = assert_envelope(response, status=400, error="validation_error")
    assert list(body["data"]) == ["bypass_quiet_hours"]


@pytest.mark.django_db
def test_bypass_quiet_hours_is_part_of_the_idempotency_fingerprint(send, user_service):
    user_id = add_user_with_quiet_hours(user_service, quiet_hours=None)
    assert_envelope(send(notification_body(user_id, request_id="qh-1")), status=202)

    response = send(notification_body(user_id, request_id="qh-1", bypass_quiet_hours=True))

    assert_envelope(response, status=409, error="idempotency_conflict")


# -- bulk intake ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_bulk_items_inside_quiet_hours_are_deferred_and_urgent_or_bypassed_ones_are_not(
    api_client, sender_key, user_service, fresh_rate_limits
):
    user_id = add_user_with_quiet_hours(user_service, quiet_hours=window_around_now())
    items = [
        notification_body(user_id, request_id="bulk-qh-1"),
        notification_body(user_id, request_id="bulk-qh-2", priority=10),
        notification_body(user_id, request_id="bulk-qh-3", bypass_quiet_hours=True),
    ]

    response = api_client.post(
        "/api/v1/notifications/bulk/", {"notifications": items}, format="json", HTTP_X_API_KEY=sender_key
    )

    results = assert_envelope(response, status=202)["data"]["results"]
    assert [r["outcome"] for r in results] == ["scheduled", "accepted", "accepted"]
    assert [r["notification"]["quiet_hours_deferred"] for r in results] == [True, False, False]
    assert timezone.now() < datetime.fromisoformat(results[0]["send_at"]) <= timezone.now() + timedelta(hours=1)


@pytest.mark.django_db
def test_bulk_bypass_with_a_user_token_is_refused_for_that_item(
    api_client, user_service, user_token, fresh_rate_limits
):
    user_id = add_user_with_quiet_hours(user_service, quiet_hours=None)
    items = [notification_body(user_id, bypass_quiet_hours=True), notification_body(user_id)]

    response = api_client.post(
        "/api/v1/notifications/bulk/",
        {"notifications": items},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {user_token(user_id)}",
    )

    results = assert_envelope(response, status=202)["data"]["results"]
    assert [r["outcome"] for r in results] == ["rejected", "accepted"]
    assert results[0]["error"] == "permission_denied"


@pytest.mark.django_db
def test_bypass_quiet_hours_needs_a_template_of_a_required_category(send, user_service):
    user_id = add_user_with_quiet_hours(user_service, quiet_hours=window_around_now())
    user_service.add_template("weekly_deals", user_triggerable=False, category="marketing", category_required=False)

    response = send(notification_body(user_id, template_code="weekly_deals", bypass_quiet_hours=True))

    body = assert_envelope(response, status=403, error="permission_denied")
    assert "bypass_quiet_hours" in body["data"]
    assert not OutboxMessage.objects.filter(notification__template_code="weekly_deals").exists()
