"""Scheduled sends against the running platform: an email with `send_at` is held by the
gateway's outbox until then and delivered once after it (published by the relay's loop);
a cancelled one is never delivered; one inside the user's quiet hours is deferred to their
end (docs/api.md, "Scheduled sends", "Quiet hours")."""

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers import create_template, data, error, notification_status, register_user, smtp_messages, unique, wait_for

# Short, so the suite stays quick, and long enough that a busy machine still accepts the
# request well before send_at.
DELAY = timedelta(seconds=4)


@pytest.fixture(scope="module")
def reminder(templates, internal) -> str:
    code = unique("reminder").replace("-", "_")
    create_template(
        templates,
        internal,
        code=code,
        channel="email",
        versions={
            "en": {
                "subject": "Reminder for {{ name }}",
                "text_body": "Hello {{ name }}",
                "html_body": "<p>Hello {{ name }}</p>",
            }
        },
    )
    return code


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _schedule(gateway, sender, user, template_code, send_at: datetime) -> dict:
    body = {
        "notification_type": "email",
        "user_id": user.id,
        "template_code": template_code,
        "variables": {"name": "Ada"},
        "request_id": unique("scheduled"),
        "send_at": _rfc3339(send_at),
    }
    return data(gateway.post("/api/v1/notifications/", json=body, headers=sender), 202)


def test_a_scheduled_email_is_not_delivered_before_send_at_and_is_delivered_once_after(
    platform, users, gateway, sender, reminder
):
    # given a user and an email scheduled a few seconds ahead
    user = register_user(users)
    send_at = datetime.now(UTC) + DELAY
    accepted = _schedule(gateway, sender, user, reminder, send_at)
    notification_id = accepted["notification_id"]
    assert accepted["status"] == "scheduled"
    assert accepted["send_at"] == _rfc3339(send_at)

    # then until send_at it reads scheduled and nothing reaches the SMTP server
    while datetime.now(UTC) < send_at - timedelta(milliseconds=300):
        assert smtp_messages(platform.smtp_api, notification_id=notification_id) == []
        current = notification_status(gateway, notification_id, sender)
        assert (current["status"], current["queued"]) == ("scheduled", False)
        time.sleep(0.2)  # pacing of the probe, not a wait for the outcome

    # and after it the email arrives, once, no earlier than send_at
    [message] = wait_for(
        lambda: smtp_messages(platform.smtp_api, notification_id=notification_id),
        timeout=30,
        describe=f"the scheduled email {notification_id} at the SMTP server",
    )
    assert datetime.fromisoformat(message["received_at"]) >= send_at
    assert message["to"] == [user.email]
    wait_for(
        lambda: notification_status(gateway, notification_id, sender)["status"] == "delivered",
        describe=f"notification {notification_id} to read delivered",
    )
    assert len(smtp_messages(platform.smtp_api, notification_id=notification_id)) == 1
    # and it can no longer be cancelled
    assert error(gateway.post(f"/api/v1/notifications/{notification_id}/cancel/", headers=sender), 409) == (
        "already_published"
    )


def test_a_cancelled_scheduled_email_is_never_delivered(platform, users, gateway, sender, reminder):
    # given two emails scheduled for the same moment, the first of them cancelled
    user = register_user(users)
    send_at = datetime.now(UTC) + DELAY
    cancelled = _schedule(gateway, sender, user, reminder, send_at)
    control = _schedule(gateway, sender, user, reminder, send_at)

    answer = data(gateway.post(f"/api/v1/notifications/{cancelled['notification_id']}/cancel/", headers=sender), 200)
    assert answer["status"] == "cancelled"
    # cancelling again answers the same
    again = data(gateway.post(f"/api/v1/notifications/{cancelled['notification_id']}/cancel/", headers=sender), 200)
    assert again["status"] == "cancelled"

    # when the control email, due at the same moment, has been delivered
    wait_for(
        lambda: smtp_messages(platform.smtp_api, notification_id=control["notification_id"]),
        timeout=30,
        describe="the control email at the SMTP server",
    )
    wait_for(
        lambda: notification_status(gateway, control["notification_id"], sender)["status"] == "delivered",
        describe="the control email to read delivered",
    )

    # then the cancelled one never reached the SMTP server and still reads cancelled
    assert smtp_messages(platform.smtp_api, notification_id=cancelled["notification_id"]) == []
    current = notification_status(gateway, cancelled["notification_id"], sender)
    assert (current["status"], current["queued"]) == ("cancelled", False)
    assert current["cancelled_at"] is not None


def test_bad_send_at_is_refused_naming_the_field(users, gateway, sender, reminder):
    user = register_user(users)
    for send_at in ["2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z", "next tuesday", "2030-01-01T10:00:00", 42]:
        body = {
            "notification_type": "email",
            "user_id": user.id,
            "template_code": reminder,
            "request_id": unique("bad-send-at"),
            "send_at": send_at,
        }
        response = gateway.post("/api/v1/notifications/", json=body, headers=sender)
        assert error(response, 400) == "validation_error"
        assert list(response.json()["data"]) == ["send_at"], send_at


def test_an_email_inside_the_users_quiet_hours_is_deferred_to_their_end_and_delivered_then(
    platform, users, gateway, sender, reminder
):
    # given a user in Kolkata (UTC+05:30) whose quiet hours started a minute ago and end in a few seconds
    user = register_user(users)
    zone = ZoneInfo("Asia/Kolkata")
    local_now = datetime.now(zone)
    ends_local = (local_now + DELAY).replace(microsecond=0)
    window = {"start": (local_now - timedelta(minutes=1)).strftime("%H:%M:%S"), "end": ends_local.strftime("%H:%M:%S")}
    profile = data(
        users.patch(
            "/api/v1/users/me/",
            json={"preferences": {"timezone": "Asia/Kolkata", "quiet_hours": window}},
            headers=user.auth,
        )
    )
    assert profile["preferences"]["quiet_hours"] == window

    # when a (non-urgent) email is sent to them now
    body = {
        "notification_type": "email",
        "user_id": user.id,
        "template_code": reminder,
        "variables": {"name": "Ada"},
        "request_id": unique("quiet"),
    }
    accepted = data(gateway.post("/api/v1/notifications/", json=body, headers=sender), 202)

    # then it is scheduled for the end of the quiet hours
    assert (accepted["status"], accepted["quiet_hours_deferred"]) == ("scheduled", True)
    send_at = datetime.fromisoformat(accepted["send_at"])
    assert send_at == ends_local.astimezone(UTC)
    notification_id = accepted["notification_id"]
    # and nothing arrives before then
    while datetime.now(UTC) < send_at - timedelta(milliseconds=300):
        assert smtp_messages(platform.smtp_api, notification_id=notification_id) == []
        time.sleep(0.2)  # pacing of the probe, not a wait for the outcome
    # and it is delivered once after
    [message] = wait_for(
        lambda: smtp_messages(platform.smtp_api, notification_id=notification_id),
        timeout=30,
        describe=f"the deferred email {notification_id} at the SMTP server",
    )
    assert datetime.fromisoformat(message["received_at"]) >= send_at
    wait_for(
        lambda: notification_status(gateway, notification_id, sender)["status"] == "delivered",
        describe=f"notification {notification_id} to read delivered",
    )
    assert len(smtp_messages(platform.smtp_api, notification_id=notification_id)) == 1


def test_bypass_quiet_hours_sends_at_once_with_a_sender_key_and_is_refused_to_a_user_token(
    users, gateway, sender, reminder
):
    user = register_user(users)
    window = {"start": "00:00", "end": "23:59"}
    data(users.patch("/api/v1/users/me/", json={"preferences": {"quiet_hours": window}}, headers=user.auth))
    body = {"notification_type": "email", "user_id": user.id, "template_code": reminder, "bypass_quiet_hours": True}

    with_key = data(gateway.post("/api/v1/notifications/", json=body, headers=sender), 202)
    with_token = gateway.post("/api/v1/notifications/", json=body, headers=user.auth)

    assert (with_key["status"], with_key["quiet_hours_deferred"]) == ("pending", False)
    assert error(with_token, 403) == "permission_denied"
    assert "bypass_quiet_hours" in with_token.json()["data"]
