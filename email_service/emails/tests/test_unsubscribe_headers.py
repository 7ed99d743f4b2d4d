"""RFC 8058 one-click unsubscribe headers on emails of categories users may opt out of
(issue 15; docs/api.md, "Categories and unsubscribe")."""

import pytest

from emails.queue_messages import parse_email_request
from emails.tests.conftest import email_message, header
from notification_common.rabbitmq import EMAIL_QUEUE, FAILED_QUEUE, MalformedMessage
from notification_common.unsubscribe import unsubscribe_token_read
from notification_devtools.testing.rabbit import drain

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_marketing_email_carries_a_signed_one_click_unsubscribe_link(make_consumer, publish_email, smtp_server):
    body = publish_email(category="marketing", category_required=False)

    make_consumer().run(max_messages=1, idle_timeout=5)

    [received] = smtp_server.wait_for(1)
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A long header may be folded on the wire: unfolded, it is one <URL>.
    link = "".join(str(received["List-Unsubscribe"]).split())
    prefix = "<http://127.0.0.1:8001/api/v1/unsubscribe/"
    assert link.startswith(prefix) and link.endswith("/>"), link
    claim = unsubscribe_token_read(link[len(prefix) : -2])
    assert (claim.user_id, claim.category, claim.channel) == (body["user_id"], "marketing", "email")


@pytest.mark.parametrize(
    "category_fields",
    [
        {"category": "security", "category_required": True},
        {"category": "marketing"},  # category_required absent: treated as required
        {},  # an older message without a category
    ],
)
def test_required_or_unknown_categories_get_no_unsubscribe_header(
    make_consumer, publish_email, smtp_server, category_fields
):
    publish_email(**category_fields)

    make_consumer().run(max_messages=1, idle_timeout=5)

    [received] = smtp_server.wait_for(1)
    assert received["List-Unsubscribe"] is None
    assert received["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"category": "Marketing Mail"}, "category"),
        ({"category": 7}, "category"),
        ({"category": "marketing", "category_required": "no"}, "category_required"),
    ],
)
def test_a_malformed_category_is_a_malformed_message_naming_it(fields, named):
    with pytest.raises(MalformedMessage) as caught:
        parse_email_request(email_message(**fields))

    assert named in str(caught.value)


def test_a_malformed_category_goes_to_the_dead_letter_queue_unsent(
    make_consumer, publish_email, smtp_server, rabbit_channel
):
    publish_email(category="not a slug", category_required=False)

    make_consumer().run(idle_timeout=1)

    [(_, properties)] = drain(rabbit_channel, FAILED_QUEUE)
    assert header(properties, "x-failure-kind") == "malformed"
    assert drain(rabbit_channel, EMAIL_QUEUE) == []
