"""Categories and one-click unsubscribe end to end (issue 15): a delivered marketing email's
List-Unsubscribe URL, POSTed without credentials as a mail provider does (RFC 8058), stops
the next marketing email but not a required (security) one."""

import httpx
import pytest
from helpers import create_template, data, envelope, register_user, send_notification, smtp_messages, unique, wait_for


def _template(templates, internal, *, category: str) -> str:
    code = unique(category).replace("-", "_")
    create_template(
        templates,
        internal,
        code=code,
        channel="email",
        category=category,
        versions={"en": {"subject": f"{category} for {{{{ name }}}}", "text_body": "Hello {{ name }}"}},
    )
    return code


@pytest.fixture(scope="module")
def marketing(templates, internal) -> str:
    return _template(templates, internal, category="marketing")


@pytest.fixture(scope="module")
def security(templates, internal) -> str:
    return _template(templates, internal, category="security")


def _delivered(platform, notification_id: str) -> dict:
    [message] = wait_for(
        lambda: smtp_messages(platform.smtp_api, notification_id=notification_id),
        timeout=30,
        describe=f"the email of notification {notification_id} at the SMTP server",
    )
    return message


def _header(message: dict, name: str) -> str | None:
    value = {key.lower(): value for key, value in message["headers"].items()}.get(name.lower())
    return "".join(value.split()) if value is not None else None  # unfolded


def test_one_click_unsubscribe_stops_marketing_but_not_security(platform, users, gateway, sender, marketing, security):
    user = register_user(users, name="Ada")

    # given a delivered marketing email with the one-click headers
    first = data(send_notification(gateway, headers=sender, user_id=user.id, template_code=marketing), 202)
    message = _delivered(platform, first["notification_id"])
    assert _header(message, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    link = _header(message, "List-Unsubscribe")
    assert link and link.startswith(f"<{platform.url('users')}/api/v1/unsubscribe/") and link.endswith("/>"), link

    # when the mail provider POSTs the URL, without credentials
    answer = httpx.post(
        link[1:-1],
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert envelope(answer, 200)["data"] == {"category": "marketing", "channel": "email"}

    # then the next marketing email is refused, naming the category
    refused = send_notification(gateway, headers=sender, user_id=user.id, template_code=marketing)
    body = envelope(refused, 422)
    assert body["error"] == "preference_disabled"
    assert body["data"]["category"] == "marketing"

    # but a required (security) email still arrives, without an unsubscribe link
    notice = data(send_notification(gateway, headers=sender, user_id=user.id, template_code=security), 202)
    delivered = _delivered(platform, notice["notification_id"])
    assert _header(delivered, "List-Unsubscribe") is None
    assert len(smtp_messages(platform.smtp_api, to=user.email)) == 2


def test_a_tampered_link_is_400_and_unsubscribes_no_one(platform, users, gateway, sender, marketing):
    user = register_user(users, name="Ada")
    sent = data(send_notification(gateway, headers=sender, user_id=user.id, template_code=marketing), 202)
    link = _header(_delivered(platform, sent["notification_id"]), "List-Unsubscribe")[1:-1]
    tampered = link[:-4] + ("AA/" if not link.endswith("AA/") else "BB/")

    answer = httpx.post(tampered, timeout=10)

    assert envelope(answer, 400)["error"] == "invalid_token"
    again = data(send_notification(gateway, headers=sender, user_id=user.id, template_code=marketing), 202)
    assert again["notification_id"]
