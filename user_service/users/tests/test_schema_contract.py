"""The user service's schema tells the truth (notification_devtools/testing/schema_contract.py)."""

import uuid

import pytest

from notification_devtools.testing.schema_contract import *  # noqa: F403
from users.constants import Channel, DeliveryStatus
from users.tests.factories import PASSWORD, DeviceFactory, NotificationLogFactory, UserFactory


# -- real answers with real data, strictly validated (SchemaValidator.assert_conforms) --
@pytest.mark.django_db
def test_registration_login_tokens_and_me_conform(schema_validator, api_client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    conforms = schema_validator.assert_conforms
    body = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "password": PASSWORD,
        "push_token": "fcm-token-ada",
        "preferences": {"email": True, "push": False},
    }

    conforms(api_client.post("/api/v1/users/", body, format="json"))
    conforms(api_client.post("/api/v1/users/", body, format="json"))  # 409: taken
    conforms(api_client.post("/api/v1/users/", {"name": ""}, format="json"))  # 400
    tokens = conforms(api_client.post("/api/v1/users/login/", {"email": body["email"], "password": PASSWORD}))
    conforms(api_client.post("/api/v1/users/login/", {"email": body["email"], "password": "wrong-password"}))  # 401
    conforms(api_client.post("/api/v1/users/token/refresh/", {"refresh": tokens["data"]["refresh"]}))
    conforms(api_client.post("/api/v1/users/token/refresh/", {"refresh": "garbage"}))  # 401
    conforms(api_client.get("/api/v1/users/public-key/"))

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['data']['access']}")
    me = conforms(api_client.get("/api/v1/users/me/"))
    conforms(api_client.patch("/api/v1/users/me/", {"name": "Ada King"}, format="json"))
    conforms(api_client.post("/api/v1/users/me/password/", {"current_password": "nope", "new_password": "x"}))
    conforms(api_client.get(f"/api/v1/users/{uuid.uuid4()}/"))  # someone else's: 403 or 404
    user_id = me["data"]["id"]
    devices = conforms(api_client.get(f"/api/v1/users/{user_id}/devices/"))
    conforms(api_client.post(f"/api/v1/users/{user_id}/devices/", {"token": "fcm-token-2", "platform": "ios"}))
    conforms(api_client.post(f"/api/v1/users/{user_id}/devices/", {"token": "fcm-token-2"}))  # 200: again
    conforms(api_client.delete(f"/api/v1/users/{user_id}/devices/{devices['data'][0]['id']}/"))
    conforms(api_client.get(f"/api/v1/users/{user_id}/notifications/"))


@pytest.mark.django_db
def test_internal_operations_conform(schema_validator, api_client, internal_key):
    conforms = schema_validator.assert_conforms
    user = UserFactory()
    DeviceFactory(user=user, token="fcm-token-1")
    log = NotificationLogFactory(user_id=user.id)
    NotificationLogFactory(user_id=user.id, channel=Channel.PUSH, status=DeliveryStatus.PENDING, attempts=0)
    api_client.credentials(HTTP_X_API_KEY=internal_key)

    conforms(api_client.get("/api/v1/users/"))
    conforms(api_client.get("/api/v1/users/", {"search": "example"}))
    conforms(api_client.get(f"/api/v1/users/{user.id}/"))
    conforms(api_client.get(f"/api/v1/users/{uuid.uuid4()}/"))  # 404
    conforms(api_client.get(f"/api/v1/users/{user.id}/notifications/", {"channel": "push"}))
    conforms(api_client.get(f"/api/v1/notifications/{log.notification_id}/status/"))
    conforms(api_client.get(f"/api/v1/notifications/{uuid.uuid4()}/status/"))  # 404
    conforms(api_client.get("/api/v1/users/stats/"))
    now = "2026-12-01T12:00:00Z"
    report = {"notification_id": str(uuid.uuid4()), "status": "delivered", "timestamp": now, "user_id": str(user.id)}
    conforms(api_client.post("/api/v1/email/status/", report, format="json"))
    conforms(api_client.post("/api/v1/push/status/", report, format="json"))  # 409: an email notification
    conforms(api_client.post("/api/v1/email/status/", [report, {"status": "lost"}], format="json"))
    conforms(api_client.post("/api/v1/email/status/", {"status": "lost"}, format="json"))  # 400
    conforms(api_client.post("/api/v1/devices/deactivate/", {"token": "fcm-token-1", "reason": "UNREGISTERED"}))
    conforms(api_client.post(f"/api/v1/users/{user.id}/deactivate/"))
    conforms(api_client.post(f"/api/v1/users/{user.id}/reactivate/"))


@pytest.mark.django_db
def test_refusals_conform(schema_validator, api_client, sender_key):
    conforms = schema_validator.assert_conforms

    conforms(api_client.get("/api/v1/users/"))  # 401
    api_client.credentials(HTTP_X_API_KEY=sender_key)
    conforms(api_client.get("/api/v1/users/"))  # 403
    conforms(api_client.get("/api/v1/users/me/"))  # 403: not a user
