"""Devices: list and add (/users/{id}/devices/), remove, and deactivate by token (internal)."""

import uuid

import pytest

from notification_devtools.testing import assert_envelope
from users.models import Device
from users.tests.factories import DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db

DEACTIVATE = "/api/v1/devices/deactivate/"


def devices_url(user_id) -> str:
    return f"/api/v1/users/{user_id}/devices/"


def device_url(user_id, device_id) -> str:
    return f"/api/v1/users/{user_id}/devices/{device_id}/"


def test_user_adds_a_device(as_user, user):
    response = as_user(user).post(devices_url(user.id), {"token": "tok-1", "platform": "web", "name": "Laptop"})

    data = assert_envelope(response, status=201)["data"]
    assert (data["token"], data["platform"], data["name"], data["active"]) == ("tok-1", "web", "Laptop", True)
    assert data["last_seen"]


def test_adding_the_same_token_twice_keeps_one_device(as_user, user):
    client = as_user(user)
    first = client.post(devices_url(user.id), {"token": "tok-1"}, format="json")

    second = client.post(devices_url(user.id), {"token": "tok-1", "name": "Phone"}, format="json")

    assert assert_envelope(second, status=200)["data"]["id"] == first.json()["data"]["id"]
    assert Device.objects.filter(user=user).count() == 1
    assert Device.objects.get(user=user).name == "Phone"


def test_adding_a_deactivated_token_again_reactivates_it(as_user, user):
    device = DeviceFactory(user=user, token="tok-1", active=False, deactivation_reason="unregistered")

    as_user(user).post(devices_url(user.id), {"token": "tok-1"}, format="json")

    device.refresh_from_db()
    assert device.active is True and device.deactivation_reason == ""


def test_two_users_may_register_the_same_token(as_user, user):
    other = UserFactory()
    DeviceFactory(user=other, token="tok-1")

    assert_envelope(as_user(user).post(devices_url(user.id), {"token": "tok-1"}), status=201)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "token"),
        ({"token": ""}, "token"),
        ({"token": "t", "platform": "palm"}, "platform"),
        ({"token": "x" * 513}, "token"),
    ],
)
def test_invalid_device_is_named_in_a_400(as_user, user, body, field):
    response = as_user(user).post(devices_url(user.id), body, format="json")

    assert field in assert_envelope(response, status=400, error="validation_error")["data"]


def test_adding_a_device_to_another_user_answers_403(as_user, user):
    other = UserFactory()

    assert_envelope(as_user(other).post(devices_url(user.id), {"token": "t"}), status=403, error="permission_denied")


def test_internal_caller_adds_a_device_to_any_user(internal_client, user):
    assert_envelope(internal_client.post(devices_url(user.id), {"token": "t"}), status=201)


def test_adding_a_device_to_an_unknown_user_answers_404(internal_client):
    assert_envelope(internal_client.post(devices_url(uuid.uuid4()), {"token": "t"}), status=404, error="not_found")


def test_device_list_is_paginated_and_includes_inactive_devices(as_user, user):
    DeviceFactory.create_batch(3, user=user)
    DeviceFactory(user=user, active=False)
    DeviceFactory()  # someone else's

    body = assert_envelope(as_user(user).get(devices_url(user.id), {"limit": 2}), status=200)

    assert len(body["data"]) == 2
    assert body["meta"]["total"] == 4 and body["meta"]["has_next"] is True


def test_device_list_of_unknown_user_answers_404(internal_client):
    assert_envelope(internal_client.get(devices_url(uuid.uuid4())), status=404, error="not_found")


def test_device_list_with_bad_limit_names_it(as_user, user):
    response = as_user(user).get(devices_url(user.id), {"limit": "lots"})

    assert "limit" in assert_envelope(response, status=400, error="validation_error")["data"]


def test_user_removes_a_device(as_user, user):
    device = DeviceFactory(user=user)

    assert_envelope(as_user(user).delete(device_url(user.id, device.id)), status=200)

    assert not Device.objects.filter(id=device.id).exists()


def test_removing_another_users_device_answers_404(as_user, user):
    foreign = DeviceFactory()

    assert_envelope(as_user(user).delete(device_url(user.id, foreign.id)), status=404, error="not_found")
    assert Device.objects.filter(id=foreign.id).exists()


def test_removing_via_another_users_path_answers_403(as_user, user):
    device = DeviceFactory(user=user)

    assert_envelope(as_user(UserFactory()).delete(device_url(user.id, device.id)), status=403)


def test_deactivate_by_token_deactivates_every_device_with_it(internal_client):
    a = DeviceFactory(token="dead-token")
    b = DeviceFactory(token="dead-token")
    keep = DeviceFactory(token="live-token")

    response = internal_client.post(DEACTIVATE, {"token": "dead-token", "reason": "UNREGISTERED"}, format="json")

    assert assert_envelope(response, status=200)["data"] == {"deactivated": 2}
    assert Device.objects.filter(id__in=[a.id, b.id], active=False, deactivation_reason="UNREGISTERED").count() == 2
    assert Device.objects.get(id=keep.id).active is True


def test_deactivated_device_disappears_from_the_user_lookup(internal_client):
    device = DeviceFactory(token="dead-token")
    internal_client.post(DEACTIVATE, {"token": "dead-token"}, format="json")

    data = internal_client.get(f"/api/v1/users/{device.user_id}/").json()["data"]

    assert data["devices"] == []


def test_deactivating_an_unknown_token_answers_200_with_zero(internal_client):
    response = internal_client.post(DEACTIVATE, {"token": "never-seen"}, format="json")

    assert assert_envelope(response, status=200)["data"] == {"deactivated": 0}


def test_deactivate_without_token_names_it(internal_client):
    assert "token" in assert_envelope(internal_client.post(DEACTIVATE, {}, format="json"), status=400)["data"]


def test_deactivate_needs_an_internal_key(as_user, sender_client, user):
    assert_envelope(sender_client.post(DEACTIVATE, {"token": "t"}, format="json"), status=403)


def test_deactivate_with_a_user_token_answers_403(as_user, user):
    assert_envelope(as_user(user).post(DEACTIVATE, {"token": "t"}, format="json"), status=403)


def test_deactivate_without_credentials_answers_401(api_client):
    assert_envelope(api_client.post(DEACTIVATE, {"token": "t"}, format="json"), status=401)
