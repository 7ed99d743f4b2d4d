"""Parked outbox rows seen from the admin service: listed and refused for replay through the
real gateway (its internal endpoints, the admin service's real service key)."""

from helpers import create_template, data, error, register_user, send_notification, unique, wait_for


def test_the_admin_service_lists_parked_outbox_rows_through_the_gateway(admin, admin_auth):
    body = admin.get("/api/v1/admin/outbox/parked/", params={"limit": 5}, headers=admin_auth)

    rows = data(body)
    assert isinstance(rows, list)
    assert body.json()["meta"]["limit"] == 5


def test_replaying_a_published_notification_is_refused_by_the_gateway(
    admin, admin_auth, gateway, sender, users, templates, internal
):
    # given a notification the gateway published at once
    code = unique("outbox")
    create_template(
        templates, internal, code=code, channel="email", versions={"en": {"subject": "Hi", "text_body": "Hi"}}
    )
    user = register_user(users)
    accepted = data(send_notification(gateway, headers=sender, user_id=user.id, template_code=code), 202)
    notification_id = accepted["notification_id"]

    # when an admin tries to replay it as a parked outbox row
    def refused():
        response = admin.post(f"/api/v1/admin/outbox/{notification_id}/replay/", headers=admin_auth)
        return error(response, 409)

    # then the gateway refuses: it is not parked, and nothing is audited
    assert wait_for(refused, timeout=10, describe="the gateway's refusal") == "not_parked"
    audit = data(admin.get("/api/v1/admin/audit/", params={"action": "outbox.replayed"}, headers=admin_auth))
    assert all(entry["target"] != f"outbox:{notification_id}" for entry in audit)
