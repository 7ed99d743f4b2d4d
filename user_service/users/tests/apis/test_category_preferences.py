"""Per-category, per-channel preference switches and one-click unsubscribe (issue 15;
docs/api.md, "Categories and unsubscribe")."""

import uuid

import pytest
from django.core import signing

from notification_common.unsubscribe import SALT, unsubscribe_token_make
from notification_devtools.testing import assert_envelope
from users.models import Preferences
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me/"


def _url(token: str) -> str:
    return f"/api/v1/unsubscribe/{token}/"


def test_category_switches_are_merged_and_shown_to_the_gateway(as_user, user, api_client, internal_key):
    client = as_user(user)
    client.patch(ME, {"preferences": {"categories": {"marketing": {"email": False}}}}, format="json")

    answer = client.patch(ME, {"preferences": {"categories": {"product": {"push": False}}}}, format="json")

    expected = {"marketing": {"email": False}, "product": {"push": False}}
    assert assert_envelope(answer, status=200)["data"]["preferences"]["categories"] == expected
    api_client.credentials(HTTP_X_API_KEY=internal_key)
    seen = assert_envelope(api_client.get(f"/api/v1/users/{user.id}/"), status=200)["data"]
    assert seen["preferences"]["categories"] == expected


def test_a_category_switch_can_be_turned_back_on(as_user, user):
    client = as_user(user)
    client.patch(ME, {"preferences": {"categories": {"marketing": {"email": False}}}}, format="json")

    answer = client.patch(ME, {"preferences": {"categories": {"marketing": {"email": True}}}}, format="json")

    assert assert_envelope(answer, status=200)["data"]["preferences"]["categories"] == {"marketing": {"email": True}}


@pytest.mark.parametrize(
    "categories",
    [
        ["marketing"],
        "marketing",
        {"Marketing!": {"email": False}},
        {"marketing": False},
        {"marketing": {}},
        {"marketing": {"sms": False}},
        {"marketing": {"email": "no"}},
        {"marketing": {"email": 0}},
    ],
)
def test_malformed_category_switches_are_400_naming_the_field(as_user, user, categories):
    response = as_user(user).patch(ME, {"preferences": {"categories": categories}}, format="json")

    body = assert_envelope(response, status=400, success=False)
    assert body["error"] == "validation_error"
    assert "categories" in body["data"]["preferences"]
    assert Preferences.objects.get(user=user).categories == {}


def test_registration_accepts_category_switches(api_client):
    body = {
        "name": "Ada",
        "email": "ada@example.com",
        "password": "a-long-enough-password-1",
        "preferences": {"email": True, "push": False, "categories": {"marketing": {"email": False}}},
    }

    response = api_client.post("/api/v1/users/", body, format="json")

    data = assert_envelope(response, status=201)["data"]
    assert data["preferences"]["categories"] == {"marketing": {"email": False}}


# -- one-click unsubscribe ---------------------------------------------------------------------


def test_post_turns_the_category_email_off_and_is_idempotent(api_client, user):
    token = unsubscribe_token_make(user_id=str(user.id), category="marketing")

    first = api_client.post(_url(token), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    second = api_client.post(_url(token))

    assert assert_envelope(first, status=200)["data"] == {"category": "marketing", "channel": "email"}
    assert_envelope(second, status=200)
    assert Preferences.objects.get(user=user).categories == {"marketing": {"email": False}}


def test_unsubscribing_keeps_the_other_switches(api_client, user):
    Preferences.objects.filter(user=user).update(categories={"marketing": {"push": False}, "product": {"email": True}})

    api_client.post(_url(unsubscribe_token_make(user_id=str(user.id), category="marketing")))

    assert Preferences.objects.get(user=user).categories == {
        "marketing": {"push": False, "email": False},
        "product": {"email": True},
    }


def test_get_shows_a_confirmation_page_and_changes_nothing(api_client, user):
    token = unsubscribe_token_make(user_id=str(user.id), category="marketing")

    response = api_client.get(_url(token))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert '<form method="post">' in page and "marketing" in page
    assert Preferences.objects.get(user=user).categories == {}


def test_the_pages_button_gets_an_html_answer(api_client, user):
    token = unsubscribe_token_make(user_id=str(user.id), category="product")

    response = api_client.post(_url(token), HTTP_ACCEPT="text/html,application/xhtml+xml")

    assert response.status_code == 200
    assert "Unsubscribed" in response.content.decode()
    assert Preferences.objects.get(user=user).categories == {"product": {"email": False}}


def _tampered(token: str) -> str:
    payload, _, signature = token.rpartition(":")
    return f"{payload}:{signature[:-2]}{'AA' if not signature.endswith('AA') else 'BB'}"


@pytest.mark.parametrize(
    "make_token",
    [
        lambda user: "not-a-token",
        lambda user: _tampered(unsubscribe_token_make(user_id=str(user.id), category="marketing")),
        # Signed with another secret, or another salt: forged.
        lambda user: signing.dumps({"u": str(user.id), "c": "marketing", "ch": "email"}, key="x" * 40, salt=SALT),
        lambda user: signing.dumps({"u": str(user.id), "c": "marketing", "ch": "email"}, salt="other"),
        # Validly signed but not a claim.
        lambda user: signing.dumps(["u"], key="dev-unsubscribe-secret-change-me", salt=SALT),
        lambda user: "a" * 2000,
    ],
)
def test_a_bad_or_tampered_token_is_400_and_changes_nothing(api_client, user, make_token):
    token = make_token(user)

    post = api_client.post(_url(token))
    get = api_client.get(_url(token))

    body = assert_envelope(post, status=400, success=False)
    assert body["error"] == "invalid_token"
    assert get.status_code == 400 and get["Content-Type"].startswith("text/html")
    assert Preferences.objects.get(user=user).categories == {}


def test_a_token_cannot_be_pointed_at_another_user(api_client, user):
    other = UserFactory()
    token = unsubscribe_token_make(user_id=str(user.id), category="marketing")
    # Swap the user id inside the signed payload, keeping the signature: it no longer matches.
    payload, _, rest = token.partition(":")
    claim = signing.b64_decode(payload.encode()).decode().replace(str(user.id), str(other.id))
    forged = f"{signing.b64_encode(claim.encode()).decode()}:{rest}"
    assert forged != token

    assert api_client.post(_url(forged)).status_code == 400
    assert Preferences.objects.get(user=other).categories == {}


def test_a_token_of_a_user_that_no_longer_exists_is_404(api_client):
    token = unsubscribe_token_make(user_id=str(uuid.uuid4()), category="marketing")

    assert_envelope(api_client.post(_url(token)), status=404, success=False, error="not_found")


def test_a_validly_signed_token_with_a_malformed_user_id_is_404_not_500(api_client, settings):
    token = unsubscribe_token_make(user_id="not-a-uuid", category="marketing")

    assert_envelope(api_client.post(_url(token)), status=404, success=False)
