"""Sender-managed users: PUT /users/by-external-id/{id}/, POST /users/import/, GET for the gateway."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notification_devtools.testing import assert_envelope
from users.models import Device, User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/users/import/"
WRITER = "test-users-writer-key"
OTHER_WRITER = "test-users-other-writer-key"


def by_external_id(external_id: str) -> str:
    return f"/api/v1/users/by-external-id/{external_id}/"


@pytest.fixture(autouse=True)
def _writer_keys(settings):
    common = dict(settings.NOTIFICATION_COMMON)
    common["BOOTSTRAP_API_KEYS"] = {
        **common["BOOTSTRAP_API_KEYS"],
        WRITER: ["users:write"],
        OTHER_WRITER: ["users:write"],
    }
    settings.NOTIFICATION_COMMON = common


@pytest.fixture
def writer(api_client):
    api_client.credentials(HTTP_X_API_KEY=WRITER)
    return api_client


def _key_id(raw: str) -> str:
    from notification_common.api_keys import verify_api_key

    return verify_api_key(raw).key_id


def body(**overrides) -> dict:
    return {"email": "ada@example.com", "name": "Ada", **overrides}


# --- PUT --------------------------------------------------------------------------------


def test_put_creates_a_passwordless_user_with_preferences_and_devices(writer, api_client):
    response = writer.put(
        by_external_id("crm-42"),
        body(
            email="Ada@Example.com",
            preferences={"email": True, "push": False, "timezone": "Europe/Lisbon"},
            devices=[{"token": "tok-1", "platform": "ios", "name": "phone"}],
        ),
        format="json",
    )

    data = assert_envelope(response, status=201, success=True)["data"]
    assert data["external_id"] == "crm-42"
    assert data["email"] == "ada@example.com"
    assert data["preferences"]["push"] is False and data["preferences"]["timezone"] == "Europe/Lisbon"
    assert [(d["token"], d["platform"], d["name"]) for d in data["devices"]] == [("tok-1", "ios", "phone")]
    user = User.objects.get(id=data["id"])
    assert user.external_key_id == _key_id(WRITER)
    assert not user.has_usable_password()
    api_client.credentials()
    login = api_client.post("/api/v1/users/login/", {"email": "ada@example.com", "password": ""}, format="json")
    assert login.status_code in (400, 401)


def test_put_again_updates_the_same_user_and_replaces_its_devices(writer):
    first = assert_envelope(
        writer.put(by_external_id("crm-42"), body(devices=[{"token": "old"}, {"token": "kept"}]), format="json"),
        status=201,
    )["data"]

    response = writer.put(
        by_external_id("crm-42"),
        body(email="ada@new.example", name="Ada L.", devices=[{"token": "kept"}, {"token": "new"}]),
        format="json",
    )

    data = assert_envelope(response, status=200, success=True)["data"]
    assert data["id"] == first["id"]
    assert (data["email"], data["name"]) == ("ada@new.example", "Ada L.")
    assert sorted(d["token"] for d in data["devices"]) == ["kept", "new"]
    old = Device.objects.get(user_id=data["id"], token="old")
    assert not old.active and old.deactivation_reason == "removed_by_sender"


def test_put_without_devices_keeps_them_and_partial_preferences_merge(writer):
    writer.put(by_external_id("u1"), body(devices=[{"token": "t"}], preferences={"push": False}), format="json")

    data = writer.put(by_external_id("u1"), body(preferences={"email": False}), format="json").json()["data"]

    assert [d["token"] for d in data["devices"]] == ["t"]
    assert (data["preferences"]["email"], data["preferences"]["push"]) == (False, False)


def test_external_ids_are_scoped_to_the_sender_key(writer, api_client):
    mine = writer.put(by_external_id("42"), body(), format="json").json()["data"]
    api_client.credentials(HTTP_X_API_KEY=OTHER_WRITER)

    theirs = api_client.put(by_external_id("42"), body(email="other@example.com"), format="json")

    data = assert_envelope(theirs, status=201)["data"]
    assert data["id"] != mine["id"]
    assert User.objects.get(id=mine["id"]).email == "ada@example.com"


def test_put_refuses_an_email_owned_by_another_account(writer):
    UserFactory(email="taken@example.com")

    response = writer.put(by_external_id("x"), body(email="TAKEN@example.com"), format="json")

    body_ = assert_envelope(response, status=409, success=False, error="email_taken")
    assert "email" in body_["data"]
    assert not User.objects.filter(external_id="x").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "Ada"}, "email"),
        (body(email="not-an-email"), "email"),
        ({"email": "a@example.com"}, "name"),
        (body(name="x" * 151), "name"),
        (body(preferences={"email": "maybe"}), "preferences"),
        (body(preferences={"timezone": "Mars/Base"}), "preferences"),
        (body(preferences={"quiet_hours": {"start": "25:00", "end": "07:00"}}), "preferences"),
        (body(devices="tok"), "devices"),
        (body(devices=[{"platform": "ios"}]), "devices"),
        (body(devices=[{"token": "t", "platform": "symbian"}]), "devices"),
        (body(devices=[{"token": "t"}, {"token": "t"}]), "devices"),
        (body(devices=[{"token": f"t{i}"} for i in range(51)]), "devices"),
    ],
)
def test_put_bad_input_is_a_400_naming_the_field(writer, payload, field):
    response = writer.put(by_external_id("crm-1"), payload, format="json")

    result = assert_envelope(response, status=400, success=False, error="validation_error")
    assert field in result["data"]
    assert not User.objects.filter(external_id="crm-1").exists()


@pytest.mark.parametrize("external_id", ["has space", "x" * 256, "semi;colon", "%C3%A9"])
def test_put_bad_external_id_is_a_400_naming_it(writer, external_id):
    response = writer.put(by_external_id(external_id), body(), format="json")

    assert "external_id" in assert_envelope(response, status=400, error="validation_error")["data"]


def test_put_needs_the_users_write_scope(api_client, sender_key, internal_key):
    for key in (sender_key, internal_key):
        api_client.credentials(HTTP_X_API_KEY=key)
        assert_envelope(api_client.put(by_external_id("a"), body(), format="json"), status=403, success=False)
    api_client.credentials()
    assert_envelope(api_client.put(by_external_id("a"), body(), format="json"), status=401, success=False)


# --- GET (the gateway's resolution) -------------------------------------------------------


def test_internal_key_resolves_an_external_id_within_the_named_sender(writer, api_client, internal_key):
    user_id = writer.put(by_external_id("crm-7"), body(), format="json").json()["data"]["id"]
    api_client.credentials(HTTP_X_API_KEY=internal_key)

    found = api_client.get(by_external_id("crm-7"), {"key_id": _key_id(WRITER)})
    other = api_client.get(by_external_id("crm-7"), {"key_id": _key_id(OTHER_WRITER)})
    missing_key = api_client.get(by_external_id("crm-7"))

    assert assert_envelope(found, status=200)["data"]["id"] == user_id
    assert_envelope(other, status=404, error="not_found")
    assert "key_id" in assert_envelope(missing_key, status=400, error="validation_error")["data"]


def test_a_sender_key_reads_only_its_own_namespace(writer):
    writer.put(by_external_id("crm-7"), body(), format="json")

    assert assert_envelope(writer.get(by_external_id("crm-7")), status=200)["data"]["external_id"] == "crm-7"
    refused = writer.get(by_external_id("crm-7"), {"key_id": "someone-else"})
    assert "key_id" in assert_envelope(refused, status=403, error="permission_denied")["data"]


def test_the_resolved_user_has_the_put_answers_shape(writer):
    # GET builds its answer without the serializer (selectors.user_profile_get): the same shape
    # PUT answers with (ManagedUserApi.OutputSerializer), devices and preferences included.
    put = writer.put(
        by_external_id("crm-9"),
        body(preferences={"push": False, "quiet_hours": {"start": "22:00", "end": "07:00"}}, devices=[{"token": "t"}]),
        format="json",
    )
    put_data = assert_envelope(put, status=201)["data"]

    got = assert_envelope(writer.get(by_external_id("crm-9")), status=200)["data"]

    assert got == put_data
    assert got["devices"][0]["token"] == "t" and got["preferences"]["push"] is False


# --- import ----------------------------------------------------------------------------


def test_import_creates_and_updates_with_per_item_results(writer):
    writer.put(by_external_id("e1"), body(email="e1@example.com"), format="json")
    UserFactory(email="taken@example.com")

    response = writer.post(
        IMPORT,
        {
            "users": [
                {"external_id": "e1", "email": "e1@example.com", "name": "Renamed"},
                {"external_id": "e2", "email": "e2@example.com", "name": "Two", "devices": [{"token": "d2"}]},
                {"external_id": "e3", "email": "taken@example.com", "name": "Three"},
                {"external_id": "e2", "email": "again@example.com", "name": "Dup"},
                {"external_id": "bad id", "email": "x@example.com", "name": "X"},
                "not an object",
            ]
        },
        format="json",
    )

    data = assert_envelope(response, status=200, success=True)["data"]
    assert (data["created"], data["updated"], data["rejected"]) == (1, 1, 4)
    outcomes = [(r["index"], r["outcome"], r.get("error")) for r in data["results"]]
    assert outcomes == [
        (0, "updated", None),
        (1, "created", None),
        (2, "rejected", "email_taken"),
        (3, "rejected", "validation_error"),
        (4, "rejected", "validation_error"),
        (5, "rejected", "validation_error"),
    ]
    assert "external_id" in data["results"][4]["errors"]
    assert User.objects.get(external_id="e1").name == "Renamed"
    assert list(User.objects.get(external_id="e2").devices.values_list("token", flat=True)) == ["d2"]


def test_import_of_a_thousand_users_takes_a_fixed_number_of_statements(writer):
    users = [
        {"external_id": f"u{i}", "email": f"u{i}@example.com", "name": f"U{i}", "devices": [{"token": f"t{i}"}]}
        for i in range(1000)
    ]

    with CaptureQueriesContext(connection) as queries:
        response = writer.post(IMPORT, {"users": users}, format="json")

    assert assert_envelope(response, status=200)["data"]["created"] == 1000
    assert User.objects.filter(external_key_id=_key_id(WRITER)).count() == 1000
    assert Device.objects.filter(token__startswith="t").count() == 1000
    assert len(queries) < 20


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "users"),
        ({"users": []}, "users"),
        ({"users": "many"}, "users"),
        ({"users": [{"external_id": f"u{i}", "email": "a@example.com", "name": "A"} for i in range(1001)]}, "users"),
    ],
)
def test_import_bad_envelope_is_a_400_naming_users(writer, payload, field):
    result = assert_envelope(writer.post(IMPORT, payload, format="json"), status=400, error="validation_error")

    assert field in result["data"]
    assert not User.objects.exists()


def test_import_with_nothing_valid_is_a_400_with_the_results(writer):
    response = writer.post(IMPORT, {"users": [{"external_id": "a", "name": "A"}]}, format="json")

    data = assert_envelope(response, status=400, error="validation_error")["data"]
    assert data["rejected"] == 1 and "email" in data["results"][0]["errors"]


def test_import_refused_without_users_write(api_client, sender_key):
    api_client.credentials(HTTP_X_API_KEY=sender_key)

    assert_envelope(api_client.post(IMPORT, {"users": [body(external_id="a")]}, format="json"), status=403)
    assert not User.objects.filter(id__in=[uuid.uuid4()]).exists()


def test_category_switches_merge_like_patch_me(writer):
    writer.put(by_external_id("cat"), body(preferences={"categories": {"marketing": {"email": False}}}), format="json")

    data = writer.put(
        by_external_id("cat"), body(preferences={"categories": {"news": {"push": False}}}), format="json"
    ).json()["data"]

    assert data["preferences"]["categories"] == {"marketing": {"email": False}, "news": {"push": False}}
