"""Push to a user with two devices: each device gets the rendered push once, through the
real firebase-admin SDK talking to the loopback FCM server; the status reads `delivered`."""

from helpers import (
    create_template,
    data,
    fcm_messages,
    register_user,
    send_notification,
    unique,
    wait_for,
    wait_for_status,
)


def test_push_reaches_both_devices_of_the_user(platform, users, templates, gateway, internal, sender):
    # given a push template and a user with two active devices
    code = unique("order-shipped")
    create_template(
        templates,
        internal,
        code=code,
        channel="push",
        versions={"en": {"title": "Order {{ order }} shipped", "body": "Hi {{ name }}, it is on its way."}},
    )
    phone, tablet = unique("phone-token"), unique("tablet-token")
    user = register_user(users, push_token=phone)
    data(
        users.post(
            f"/api/v1/users/{user.id}/devices/",
            json={"token": tablet, "platform": "ios", "name": "tablet"},
            headers=user.auth,
        ),
        201,
    )

    # when a sender with an API key sends the user a push notification
    accepted = data(
        send_notification(
            gateway,
            headers=sender,
            user_id=user.id,
            template_code=code,
            notification_type="push",
            variables={"name": "Ada", "order": "A-42"},
        ),
        202,
    )

    # then each device receives it exactly once, rendered
    def both_received():
        got = {token: fcm_messages(platform.fcm_url, token=token) for token in (phone, tablet)}
        return got if all(got.values()) else None

    received = wait_for(both_received, timeout=30, describe="the push at both devices")
    for token, messages in received.items():
        assert len(messages) == 1, f"{token} got {len(messages)} pushes"
        notification = messages[0]["message"]["notification"]
        assert notification["title"] == "Order A-42 shipped"
        assert notification["body"] == "Hi Ada, it is on its way."

    # and the sender reads it delivered at the gateway
    wait_for_status(gateway, accepted["notification_id"], sender, "delivered")


def test_push_to_a_user_without_devices_is_refused(users, gateway, sender):
    # given a user who registered no push token
    user = register_user(users)

    # when a push is requested for them, then the gateway refuses it at once
    response = send_notification(
        gateway, headers=sender, user_id=user.id, template_code="welcome", notification_type="push"
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "no_active_device"


def test_unregistered_device_is_deactivated_while_the_other_receives(
    platform, users, templates, gateway, internal, sender
):
    # given a user with a working device and one FCM no longer knows (UNREGISTERED)
    code = unique("ping")
    create_template(
        templates, internal, code=code, channel="push", versions={"en": {"title": "Ping", "body": "Hi {{ name }}"}}
    )
    working, dead = unique("phone-token"), unique("unregistered-token")
    user = register_user(users, push_token=working)
    data(users.post(f"/api/v1/users/{user.id}/devices/", json={"token": dead}, headers=user.auth), 201)

    # when a push is sent to the user
    accepted = data(
        send_notification(gateway, headers=sender, user_id=user.id, template_code=code, notification_type="push"), 202
    )

    # then the working device receives it and the notification is delivered ...
    wait_for(
        lambda: fcm_messages(platform.fcm_url, token=working), timeout=30, describe="the push at the working device"
    )
    wait_for_status(gateway, accepted["notification_id"], sender, "delivered")

    # ... and the dead device is deactivated at the user service
    def dead_device_inactive():
        devices = data(users.get(f"/api/v1/users/{user.id}/devices/", headers=user.auth))
        return [d for d in devices if d["token"] == dead and d["active"] is False]

    wait_for(dead_device_inactive, timeout=20, describe="the unregistered device to be deactivated")
