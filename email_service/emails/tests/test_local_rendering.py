"""Personalised emails are rendered in the consumer: one fetch of the active version, no render calls."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

SUBSTITUTE_PATH = "/api/v1/templates/substitute/"


def test_a_batch_with_distinct_variables_makes_no_render_call_after_the_first_fetch(
    make_consumer, publish_email, template_service, smtp_server
):
    # Given 30 emails of one template, each with its own variables
    bodies = [
        publish_email(
            recipient={"email": f"user{n}@example.com"},
            variables={"name": f"User <{n}>", "link": f"https://example.com/{n}"},
        )
        for n in range(30)
    ]

    # When one consumer delivers them
    make_consumer(batch_size=10).run(max_messages=30, idle_timeout=5)

    # Then each email carries its own values, and the template service saw one request in all
    received = {email.notification_id: email for email in smtp_server.wait_for(30)}
    for n, body in enumerate(bodies):
        email = received[body["notification_id"]]
        assert email.subject == f"Welcome, User <{n}>"
        assert f"<b>User &lt;{n}&gt;</b>" in email.html
    assert len(template_service.calls) == 1
    assert template_service.server.requests_to("POST", SUBSTITUTE_PATH) == []
