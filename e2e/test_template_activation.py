"""Emails are rendered in the consumer from the template's active version: a newly
activated version reaches them within TEMPLATE_ACTIVE_VERSION_TTL_SECONDS (5 s by default)."""

import time

from helpers import create_template, data, register_user, send_notification, smtp_messages, unique, wait_for

TTL_SECONDS = 5.0


def test_an_activated_version_reaches_emails_within_the_ttl(platform, users, templates, internal, gateway, sender):
    # given a template with version 1, and a user
    code = unique("rollout").replace("-", "_")
    create_template(
        templates, internal, code=code, channel="email", versions={"en": {"subject": "v1 {{ name }}", "text_body": "1"}}
    )
    user = register_user(users, name="Ada")

    def send_and_read(n: int) -> str:
        accepted = data(
            send_notification(
                gateway, headers=sender, user_id=user.id, template_code=code, variables={"name": f"Ada {n}"}
            ),
            202,
        )
        [message] = wait_for(
            lambda: smtp_messages(platform.smtp_api, notification_id=accepted["notification_id"], to=user.email),
            timeout=30,
            describe=f"email {n} of {code}",
        )
        return message["subject"]

    assert send_and_read(0) == "v1 Ada 0"  # the consumer now holds version 1

    # when version 2 is activated
    data(
        templates.post(
            f"/api/v1/templates/{code}/versions/",
            json={"language": "en", "subject": "v2 {{ name }}", "text_body": "2", "activate": True},
            headers=internal,
        ),
        201,
    )
    activated_at = time.monotonic()

    # then every email sent once the TTL has passed since the activation is version 2
    n = 0
    while True:
        n += 1
        sent_at = time.monotonic()
        subject = send_and_read(n)
        if sent_at >= activated_at + TTL_SECONDS:
            assert subject == f"v2 Ada {n}"
            break
        assert subject in (f"v1 Ada {n}", f"v2 Ada {n}")
