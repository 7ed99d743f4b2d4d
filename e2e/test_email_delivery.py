"""A user registers, a template exists in two languages, an email notification is sent:
it arrives at the SMTP server rendered in the requested language and reads `delivered`
at the gateway and in the user's own notification log."""

import pytest
from helpers import (
    create_template,
    data,
    register_user,
    send_notification,
    smtp_messages,
    unique,
    wait_for,
    wait_for_status,
)


@pytest.fixture(scope="module")
def greeting(templates, internal) -> str:
    code = unique("greeting").replace("-", "_")
    create_template(
        templates,
        internal,
        code=code,
        channel="email",
        user_triggerable=True,  # the users below send it to themselves with their own tokens
        versions={
            "en": {
                "subject": "Welcome, {{ name }}",
                "text_body": "Hello {{ name }}, your link: {{ link }}",
                "html_body": "<p>Hello <b>{{ name }}</b>, <a href='{{ link }}'>your link</a></p>",
            },
            "fr": {
                "subject": "Bienvenue, {{ name }}",
                "text_body": "Bonjour {{ name }}, votre lien : {{ link }}",
                "html_body": "<p>Bonjour <b>{{ name }}</b>, <a href='{{ link }}'>votre lien</a></p>",
            },
        },
    )
    return code


def _arrived(platform, user, notification_id):
    return wait_for(
        lambda: smtp_messages(platform.smtp_api, notification_id=notification_id, to=user.email),
        timeout=30,
        describe=f"the email of notification {notification_id} at the SMTP server",
    )


@pytest.mark.parametrize(
    ("language", "subject", "greeting_word"),
    [("fr", "Bienvenue, Ada", "Bonjour Ada"), ("en", "Welcome, Ada", "Hello Ada")],
)
def test_email_arrives_rendered_in_the_requested_language(
    platform, users, gateway, greeting, language, subject, greeting_word
):
    # given a registered, logged-in user
    user = register_user(users, name="Ada")

    # when the user sends themself an email notification in that language
    accepted = data(
        send_notification(
            gateway,
            headers=user.auth,
            user_id=user.id,
            template_code=greeting,
            language=language,
            variables={"name": "Ada", "link": "https://example.com/start"},
        ),
        202,
    )
    assert accepted["status"] == "pending"

    # then exactly one email arrives, in that language, text and HTML
    [message] = _arrived(platform, user, accepted["notification_id"])
    assert message["subject"] == subject
    assert message["to"] == [user.email]
    assert greeting_word in message["text"]
    assert "https://example.com/start" in message["text"]
    assert "<b>Ada</b>" in message["html"]


def test_delivered_email_reads_delivered_at_the_gateway_and_in_the_users_log(platform, users, gateway, greeting):
    # given a user whose email notification has arrived
    user = register_user(users)
    accepted = data(
        send_notification(
            gateway, headers=user.auth, user_id=user.id, template_code=greeting, variables={"name": "Ada", "link": "x"}
        ),
        202,
    )
    notification_id = accepted["notification_id"]
    _arrived(platform, user, notification_id)

    # then the gateway reports it delivered
    status = wait_for_status(gateway, notification_id, user.auth, "delivered")
    assert status["notification_type"] == "email"

    # and so does the user's own notification log at the user service
    def logged_delivered():
        rows = data(users.get(f"/api/v1/users/{user.id}/notifications/", headers=user.auth))
        return [r for r in rows if r["notification_id"] == notification_id and r["status"] == "delivered"]

    [row] = wait_for(logged_delivered, describe="the user's log to show the notification delivered")
    assert row["channel"] == "email"


def test_missing_template_variable_is_reported_failed(platform, users, gateway, greeting):
    # given a user, and a request that leaves out the template's `link` variable
    user = register_user(users)
    accepted = data(
        send_notification(
            gateway, headers=user.auth, user_id=user.id, template_code=greeting, variables={"name": "Ada"}
        ),
        202,
    )

    # then nothing is sent and the notification ends `failed`, naming the variable
    status = wait_for_status(gateway, accepted["notification_id"], user.auth, "failed")
    assert "link" in (status.get("error") or "")
    assert smtp_messages(platform.smtp_api, to=user.email) == []
