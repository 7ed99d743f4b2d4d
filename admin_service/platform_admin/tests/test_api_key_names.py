"""API key names are single lines of text (issue 14): control characters are refused."""

import pytest

from notification_devtools.testing import assert_envelope
from platform_admin.models import ApiKey

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/admin/api-keys/"


@pytest.mark.parametrize("name", ["billing\nfake audit line", "bell\x07", "esc\x1b[31mred", "nul\x00"])
def test_a_key_name_with_control_characters_is_refused_naming_the_field(admin_api, name):
    response = admin_api.post(KEYS, {"name": name, "scopes": ["notifications:send"]}, format="json")

    assert list(assert_envelope(response, status=400, error="validation_error")["data"]) == ["name"]
    assert not ApiKey.objects.filter(name__startswith=name[:3]).exists()


def test_an_ordinary_unicode_key_name_is_accepted(admin_api):
    response = admin_api.post(KEYS, {"name": "Envoi — été 2026", "scopes": ["notifications:send"]}, format="json")

    assert assert_envelope(response, status=201)["data"]["name"] == "Envoi — été 2026"
