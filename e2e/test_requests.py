"""What the gateway accepts and refuses: duplicates, preferences, who may notify whom."""

import pytest
from helpers import (
    create_template,
    data,
    error,
    issue_api_key,
    register_user,
    send_notification,
    smtp_messages,
    unique,
    wait_for,
    wait_for_status,
)


@pytest.fixture(scope="module")
def notice(templates, internal) -> str:
    code = unique("notice")
    create_template(
        templates,
        internal,
        code=code,
        channel="email",
        versions={"en": {"subject": "Notice for {{ name }}", "text_body": "Hello {{ name }}."}},
    )
    return code


def test_duplicate_request_id_returns_the_original_and_delivers_once(platform, users, gateway, sender, notice):
    # given a notification accepted with a client request id
    user = register_user(users)
    request_id = unique("client-key")
    first = data(
        send_notification(gateway, headers=sender, user_id=user.id, template_code=notice, request_id=request_id), 202
    )

    # when the client sends the same request again
    second = send_notification(gateway, headers=sender, user_id=user.id, template_code=notice, request_id=request_id)

    # then it gets the original notification back (200, same id) ...
    assert data(second, 200)["notification_id"] == first["notification_id"]
    # ... and the user receives one email
    wait_for_status(gateway, first["notification_id"], sender, "delivered")
    assert len(smtp_messages(platform.smtp_api, to=user.email)) == 1


def test_same_request_id_with_another_body_is_a_conflict(users, gateway, sender, notice):
    user = register_user(users)
    request_id = unique("client-key")
    data(send_notification(gateway, headers=sender, user_id=user.id, template_code=notice, request_id=request_id), 202)

    response = send_notification(
        gateway, headers=sender, user_id=user.id, template_code=notice, request_id=request_id, variables={"name": "Bo"}
    )

    assert error(response, 409)


def test_channel_turned_off_in_preferences_is_refused(users, gateway, sender, notice):
    # given a user who turned email off
    user = register_user(users, email_enabled=False)

    # when an email is requested for them
    response = send_notification(gateway, headers=sender, user_id=user.id, template_code=notice)

    # then it is refused before anything is queued
    assert error(response, 422) == "preference_disabled"


def test_user_may_not_notify_another_user(users, gateway, notice):
    # given two users
    mallory, victim = register_user(users, name="Mallory"), register_user(users, name="Victim")

    # when one uses their own token to notify the other
    response = send_notification(gateway, headers=mallory.auth, user_id=victim.id, template_code=notice)

    # then the gateway refuses
    assert error(response, 403)


def test_a_user_token_may_not_send_a_template_that_is_not_user_triggerable(users, gateway, notice):
    # given a user and a template created without user_triggerable (the default)
    user = register_user(users, name="Eve")

    # when the user sends it to themself with their own token
    response = send_notification(gateway, headers=user.auth, user_id=user.id, template_code=notice)

    # then the gateway refuses: open registration must not make the platform a relay
    assert error(response, 403) == "template_not_user_triggerable"


def test_request_without_credentials_is_refused(users, gateway, notice):
    user = register_user(users)

    response = send_notification(gateway, headers={}, user_id=user.id, template_code=notice)

    assert error(response, 401)


def test_api_key_from_the_admin_service_sends_until_revoked(users, gateway, admin, admin_auth, notice):
    # given an API key created by an admin with the notifications:send scope
    created = issue_api_key(admin, admin_auth, "e2e-client", ["notifications:send"])
    key_headers = {"X-API-Key": created["key"]}
    user = register_user(users)

    # then the gateway accepts notifications sent with it
    data(send_notification(gateway, headers=key_headers, user_id=user.id, template_code=notice), 202)

    # when the admin revokes it
    data(admin.post(f"/api/v1/admin/api-keys/{created['id']}/revoke/", headers=admin_auth), 200)

    # then the gateway refuses it (at once, or at worst within the verdict cache's TTL)
    def refused():
        response = send_notification(gateway, headers=key_headers, user_id=user.id, template_code=notice)
        return response.status_code in (401, 403)

    wait_for(refused, timeout=15, interval=0.5, describe="the revoked key to be refused")
