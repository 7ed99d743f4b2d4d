"""Sender-managed users end to end: a sender key with users:write upserts a user by its own
id at the user service and notifies it through the gateway by that id (docs/user_service.md,
"Sender-managed users")."""

import pytest
from helpers import create_template, data, error, issue_api_key, smtp_messages, unique, wait_for, wait_for_status


@pytest.fixture(scope="module")
def crm_key(admin, admin_auth) -> dict[str, str]:
    """A sender's key issued by an admin: it syncs its users and sends to them."""
    created = issue_api_key(admin, admin_auth, "e2e-crm", ["notifications:send", "users:write"])
    return {"X-API-Key": created["key"]}


@pytest.fixture(scope="module")
def greeting(templates, internal) -> str:
    code = unique("greeting").replace("-", "_")
    create_template(
        templates,
        internal,
        code=code,
        channel="email",
        versions={"en": {"subject": "Hi {{ name }}", "text_body": "Hello {{ name }}."}},
    )
    return code


def _send_by_external_id(gateway, key, external_id: str, template_code: str) -> dict:
    body = {
        "notification_type": "email",
        "external_id": external_id,
        "template_code": template_code,
        "variables": {"name": "Ada"},
        "request_id": unique("managed"),
    }
    return data(gateway.post("/api/v1/notifications/", json=body, headers=key), 202)


def test_a_user_upserted_by_external_id_is_notified_through_it(platform, users, gateway, crm_key, greeting):
    # given a user the sender's backend knows as crm-<n>, pushed to the platform
    external_id = unique("crm")
    email = f"{unique('managed')}@example.com"
    user = data(
        users.put(
            f"/api/v1/users/by-external-id/{external_id}/",
            json={"email": email, "name": "Ada", "preferences": {"email": True, "push": False}},
            headers=crm_key,
        ),
        201,
    )
    assert user["external_id"] == external_id

    # when the sender notifies it by that id
    accepted = _send_by_external_id(gateway, crm_key, external_id, greeting)

    # then the notification is stored for the user's id and the email arrives once
    assert accepted["user_id"] == user["id"]
    notification_id = accepted["notification_id"]
    [message] = wait_for(
        lambda: smtp_messages(platform.smtp_api, notification_id=notification_id),
        timeout=30,
        describe=f"email {notification_id} at the SMTP server",
    )
    assert email in str(message)
    wait_for_status(gateway, notification_id, crm_key, "delivered")
    assert len(smtp_messages(platform.smtp_api, notification_id=notification_id)) == 1


def test_users_imported_in_bulk_are_notified_by_external_id(platform, users, gateway, crm_key, greeting):
    # given two users imported in one call
    people = [{"external_id": unique("imp"), "email": f"{unique('imp')}@example.com", "name": "Imp"} for _ in range(2)]
    imported = data(users.post("/api/v1/users/import/", json={"users": people}, headers=crm_key), 200)
    assert imported["created"] == 2

    # when the second is notified by its external id
    accepted = _send_by_external_id(gateway, crm_key, people[1]["external_id"], greeting)

    # then its email arrives at its address
    [message] = wait_for(
        lambda: smtp_messages(platform.smtp_api, notification_id=accepted["notification_id"]),
        timeout=30,
        describe="the imported user's email",
    )
    assert people[1]["email"] in str(message)


def test_another_senders_external_id_is_not_found(users, gateway, sender, crm_key, greeting):
    # given a user of the crm key
    external_id = unique("crm")
    data(
        users.put(
            f"/api/v1/users/by-external-id/{external_id}/",
            json={"email": f"{unique('x')}@example.com", "name": "X"},
            headers=crm_key,
        ),
        201,
    )
    body = {"notification_type": "email", "external_id": external_id, "template_code": greeting}

    # then another sender cannot reach it by that id
    assert error(gateway.post("/api/v1/notifications/", json=body, headers=sender), 404) == "user_not_found"
