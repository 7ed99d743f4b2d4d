"""Status webhooks against the running platform: a sender registers an endpoint, a real email
is delivered, and the signed `delivered` event reaches a loopback receiver, retried after the
receiver's 500 and not after its 200 (docs/api.md, "Webhooks")."""

import json

import pytest
from helpers import (
    create_template,
    data,
    issue_api_key,
    register_user,
    send_notification,
    unique,
    wait_for,
    wait_for_status,
)

from notification_devtools.testing.webhook_receiver import WebhookReceiver, verify_signature


@pytest.fixture(scope="module")
def receipt(templates, internal) -> str:
    code = unique("receipt").replace("-", "_")
    create_template(
        templates,
        internal,
        code=code,
        channel="email",
        versions={"en": {"subject": "Receipt for {{ name }}", "text_body": "Hi {{ name }}", "html_body": "<p>Hi</p>"}},
    )
    return code


@pytest.fixture(scope="module")
def sender(admin, admin_auth) -> dict[str, str]:
    """A sender key of this module's own, issued by an admin. Webhooks belong to a key, and the
    bootstrap key is shared: a status of another scenario's notification that lands after this
    endpoint is registered would be posted to it too, and take the receiver's one 500."""
    return {"X-API-Key": issue_api_key(admin, admin_auth, "e2e-webhooks", ["notifications:send"])["key"]}


@pytest.fixture
def webhook(gateway, sender):
    """A webhook of the sender key pointing at a loopback receiver that answers 500 once, then 200.
    Removed afterwards, so no later scenario of this module feeds this endpoint."""
    with WebhookReceiver(statuses=[500]) as receiver:
        created = data(
            gateway.post("/api/v1/webhooks/", json={"url": receiver.url, "events": ["delivered"]}, headers=sender),
            201,
        )
        try:
            yield receiver, created
        finally:
            gateway.delete(f"/api/v1/webhooks/{created['id']}/", headers=sender)


def test_a_delivered_email_is_posted_signed_retried_after_a_500_and_not_after_a_200(
    gateway, users, sender, receipt, webhook
):
    receiver, created = webhook
    secret = created["secret"]
    assert "secret" not in data(gateway.get(f"/api/v1/webhooks/{created['id']}/", headers=sender))

    # given a real notification, delivered by the email worker
    user = register_user(users)
    request_id = unique("webhook")
    accepted = data(
        send_notification(gateway, headers=sender, user_id=user.id, template_code=receipt, request_id=request_id),
        202,
    )
    notification_id = accepted["notification_id"]
    wait_for_status(gateway, notification_id, sender, "delivered")

    # then its event arrives twice (the 500, then the retry answered 200), the same signed body
    first, second = receiver.wait_for(2, timeout=60)
    assert [first["answered"], second["answered"]] == [500, 200]
    assert first["body"] == second["body"]
    event = json.loads(second["body"])
    assert event["event"] == event["status"] == "delivered"
    assert (event["notification_id"], event["request_id"], event["channel"]) == (notification_id, request_id, "email")
    assert event["error"] is None and event["occurred_at"]
    for request in (first, second):
        assert verify_signature(secret, request["body"], request["headers"]["X-Notification-Signature"])
        assert not verify_signature("whsec_wrong", request["body"], request["headers"]["X-Notification-Signature"])

    # and the delivery log shows it settled by the 200: nothing further is scheduled
    def settled():
        log = data(gateway.get(f"/api/v1/webhooks/{created['id']}/deliveries/", headers=sender))
        return log if log and log[0]["state"] == "delivered" else None

    [delivery] = wait_for(settled, timeout=15, describe="the webhook delivery to be settled")
    assert (delivery["attempts"], delivery["next_attempt_at"]) == (2, None)
    assert [attempt["status_code"] for attempt in delivery["history"]] == [500, 200]

    # and a test event sent afterwards is the only further request: the 200 was not retried
    data(gateway.post(f"/api/v1/webhooks/{created['id']}/test/", headers=sender), 202)
    requests = receiver.wait_for(3, timeout=30)
    assert [json.loads(r["body"])["event"] for r in receiver.requests] == ["delivered", "delivered", "test"]
    assert verify_signature(secret, requests[2]["body"], requests[2]["headers"]["X-Notification-Signature"])
