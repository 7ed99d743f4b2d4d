"""Quiet hours in a user's preferences: `timezone` (IANA) and `quiet_hours` set through
PATCH /api/v1/users/me/ and shown to the gateway by GET /api/v1/users/{id}/ (docs/api.md,
"Quiet hours"); the gateway does the deferring."""

import pytest

from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me/"


def test_a_new_user_has_utc_and_no_quiet_hours(as_user, user):
    preferences = assert_envelope(as_user(user).get(ME), status=200)["data"]["preferences"]

    assert (preferences["timezone"], preferences["quiet_hours"]) == ("UTC", None)


def test_patch_me_sets_timezone_and_quiet_hours_and_the_gateway_sees_them(as_user, user, api_client, internal_key):
    body = {"preferences": {"timezone": "America/Sao_Paulo", "quiet_hours": {"start": "22:00", "end": "07:00"}}}

    answer = assert_envelope(as_user(user).patch(ME, body, format="json"), status=200)["data"]["preferences"]

    assert answer == {
        "email": True,
        "push": True,
        "timezone": "America/Sao_Paulo",
        "quiet_hours": {"start": "22:00", "end": "07:00"},
        "categories": {},
    }
    api_client.credentials(HTTP_X_API_KEY=internal_key)
    seen = assert_envelope(api_client.get(f"/api/v1/users/{user.id}/"), status=200)
    assert seen["data"]["preferences"]["quiet_hours"] == {"start": "22:00", "end": "07:00"}


def test_quiet_hours_null_turns_them_off(as_user, user):
    client = as_user(user)
    client.patch(ME, {"preferences": {"quiet_hours": {"start": "13:00", "end": "14:30:15"}}}, format="json")

    answer = assert_envelope(client.patch(ME, {"preferences": {"quiet_hours": None}}, format="json"), status=200)

    assert answer["data"]["preferences"]["quiet_hours"] is None


@pytest.mark.parametrize(
    "preferences, field",
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": 3}, "timezone"),
        ({"quiet_hours": {"start": "22:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "24:00", "end": "07:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "7pm", "end": "07:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "22:00", "end": "07:00", "days": "weekdays"}}, "quiet_hours"),
        ({"quiet_hours": "22:00-07:00"}, "quiet_hours"),
    ],
    ids=["unknown-zone", "path", "number", "no-end", "hour-24", "not-a-time", "empty-window", "extra-key", "string"],
)
def test_bad_timezone_or_quiet_hours_is_400_naming_it(as_user, user, preferences, field):
    response = as_user(user).patch(ME, {"preferences": preferences}, format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert field in body["data"]["preferences"]
    user.preferences.refresh_from_db()
    assert (user.preferences.timezone, user.preferences.quiet_hours) == ("UTC", None)
