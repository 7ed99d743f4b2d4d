"""Failures seen from outside: an SMTP outage is retried and ends in exactly one email; a
permanent refusal becomes a dead letter in the admin service, and replaying it delivers."""

import pytest
from helpers import (
    create_template,
    data,
    notification_status,
    register_user,
    send_notification,
    smtp_control,
    smtp_messages,
    unique,
    wait_for,
    wait_for_status,
)


@pytest.fixture(scope="module")
def reminder(templates, internal) -> str:
    code = unique("reminder")
    create_template(
        templates,
        internal,
        code=code,
        channel="email",
        versions={"en": {"subject": "Reminder for {{ name }}", "text_body": "Hello {{ name }}, do not forget."}},
    )
    return code


@pytest.mark.slow
def test_smtp_outage_is_retried_and_delivers_exactly_once(platform, users, gateway, sender, reminder):
    # given the SMTP server is down
    user = register_user(users)
    smtp_control(platform.smtp_api, down=True)

    # when a notification is sent, it is accepted and its delivery fails more than once
    accepted = data(send_notification(gateway, headers=sender, user_id=user.id, template_code=reminder), 202)
    notification_id = accepted["notification_id"]

    def retried():
        status = notification_status(gateway, notification_id, sender)
        return status if status["status"] == "pending" and status["attempts"] >= 2 else None

    wait_for(retried, timeout=30, describe="at least two failed delivery attempts")

    # then, once the server is back, the email arrives exactly once
    smtp_control(platform.smtp_api, down=False)
    wait_for_status(gateway, notification_id, sender, "delivered", timeout=45)
    assert len(smtp_messages(platform.smtp_api, to=user.email)) == 1


@pytest.mark.slow
def test_rejected_recipient_becomes_a_dead_letter_that_replays(
    platform, users, gateway, admin, admin_auth, sender, reminder
):
    # given a mailbox the SMTP server refuses permanently (550)
    user = register_user(users)
    smtp_control(platform.smtp_api, reject=user.email, code=550, message="No such user here")

    # when a notification is sent to it
    accepted = data(send_notification(gateway, headers=sender, user_id=user.id, template_code=reminder), 202)
    notification_id = accepted["notification_id"]

    # then it fails without retrying and lands in the admin service's dead letters
    status = wait_for_status(gateway, notification_id, sender, "failed")
    assert "550" in (status.get("error") or "")

    def dead_letter():
        rows = data(
            admin.get("/api/v1/admin/dead-letters/", params={"notification_id": notification_id}, headers=admin_auth)
        )
        return rows[0] if rows else None

    letter = wait_for(dead_letter, timeout=20, describe="the dead letter in the admin service")
    assert letter["channel"] == "email"
    assert letter["replayed_at"] is None

    # when the mailbox exists again and an admin replays the dead letter
    smtp_control(platform.smtp_api, accept=user.email)
    data(admin.post(f"/api/v1/admin/dead-letters/{letter['id']}/replay/", headers=admin_auth), 200)

    # then the email is delivered, once, and the dead letter is marked replayed
    [message] = wait_for(
        lambda: smtp_messages(platform.smtp_api, to=user.email), timeout=30, describe="the replayed email"
    )
    assert message["notification_id"] == notification_id
    replayed = data(admin.get(f"/api/v1/admin/dead-letters/{letter['id']}/", headers=admin_auth))
    assert replayed["replayed_at"] is not None
    wait_for_status(gateway, notification_id, sender, "delivered")

    # and a second replay (a double click) is refused rather than sent again
    again = admin.post(f"/api/v1/admin/dead-letters/{letter['id']}/replay/", headers=admin_auth)
    assert again.status_code == 409, again.text
    assert len(smtp_messages(platform.smtp_api, to=user.email)) == 1
