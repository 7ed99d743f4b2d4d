"""Parked outbox rows seen from the admin service: listed and refused for replay through the
real gateway (its internal endpoints, the admin service's real service key)."""

from datetime import UTC, datetime, timedelta

import psycopg
from helpers import create_template, data, error, register_user, send_notification, unique, wait_for

PARKED = "/api/v1/admin/outbox/parked/"
# A routing key no queue is bound to: the broker refuses the row (unroutable) every time.
UNROUTABLE = "e2e.no.such.queue"
# The relay parks a row at its second refusal and retries it at once, so parking takes
# moments instead of the default eight refusals over minutes of backoff.
PARK_AT_ONCE = {"OUTBOX_MAX_PUBLISH_ATTEMPTS": "2", "OUTBOX_RETRY_BASE_SECONDS": "0"}


def _parked_row(admin, admin_auth, notification_id: str, limit: int = 50) -> dict | None:
    """The admin service's listing of parked rows (most recently parked first), paged through."""
    page = 1
    while True:
        response = admin.get(PARKED, params={"page": page, "limit": limit}, headers=admin_auth)
        rows = data(response)
        assert response.json()["meta"]["limit"] == limit
        for row in rows:
            if row["notification_id"] == notification_id:
                return row
        if len(rows) < limit:
            return None
        page += 1


def test_the_admin_service_lists_a_parked_outbox_row_through_the_gateway(
    platform, admin, admin_auth, gateway, sender, users, templates, internal
):
    # given an email scheduled an hour ahead: its row waits in the gateway's outbox, unpublished
    code = unique("parked")
    create_template(
        templates, internal, code=code, channel="email", versions={"en": {"subject": "Hi", "text_body": "Hi"}}
    )
    user = register_user(users)
    send_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    body = {
        "notification_type": "email",
        "user_id": user.id,
        "template_code": code,
        "variables": {"name": "Ada"},
        "request_id": unique("parked"),
        "send_at": send_at,
    }
    notification_id = data(gateway.post("/api/v1/notifications/", json=body, headers=sender), 202)["notification_id"]

    relay = platform.process("outbox-relay")
    relay_env = relay.env
    relay.stop()
    try:
        # when the row falls due with a routing key the broker can never route, under a relay
        # that parks at the second refusal
        with psycopg.connect(platform.env["GATEWAY_DATABASE_URL"]) as conn:
            [row_id] = conn.execute(
                "UPDATE notifications_outboxmessage SET routing_key = %s, due_at = now() "
                "WHERE notification_id = %s AND published_at IS NULL RETURNING id",
                (UNROUTABLE, notification_id),
            ).fetchone()
        relay.start({**relay_env, **PARK_AT_ONCE})

        # then the admin service lists that row through the gateway, parked with the broker's reason
        listed = wait_for(
            lambda: _parked_row(admin, admin_auth, notification_id),
            timeout=60,
            describe=f"outbox row {notification_id} listed as parked by the admin service",
        )
    finally:
        relay.stop()
        relay.start(relay_env)

    with psycopg.connect(platform.env["GATEWAY_DATABASE_URL"]) as conn:
        [stored_error] = conn.execute(
            "SELECT last_error FROM notifications_outboxmessage WHERE id = %s", (row_id,)
        ).fetchone()
    assert (listed["id"], listed["notification_id"], listed["status"]) == (row_id, notification_id, "parked")
    assert (listed["routing_key"], listed["failed_attempts"]) == (UNROUTABLE, 2)
    assert "unroutable" in listed["last_error"]
    assert listed["last_error"] == stored_error
    assert listed["parked_at"] is not None and listed["published_at"] is None


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
