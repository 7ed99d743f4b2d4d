"""Templates through the template service (stood in by a stub)."""

import pytest

from notification_devtools.testing import assert_envelope
from platform_admin.constants import AuditAction
from platform_admin.models import AuditEntry

pytestmark = pytest.mark.django_db

TEMPLATES = "/api/v1/admin/templates/"
NEW_TEMPLATE = {
    "code": "welcome",
    "channel": "email",
    "default_language": "en",
    "versions": [{"language": "en", "subject": "Hi {{ name }}", "text_body": "Hello {{ name }}"}],
}
TEMPLATE = {"id": "t-1", "code": "welcome", "channel": "email", "default_language": "en", "languages": {"en": 1}}
VERSION = {"id": "v-2", "language": "en", "version": 2, "is_active": False}


def test_list_passes_filters_on(admin_api, platform):
    platform.route(
        "GET",
        "/api/v1/templates/",
        lambda request: (200, {"success": True, "data": [TEMPLATE], "error": None, "message": "", "meta": {}}),
    )

    body = assert_envelope(admin_api.get(TEMPLATES, {"channel": "email", "search": "wel"}), status=200)

    assert body["data"] == [TEMPLATE]
    path = platform.requests_to("GET", "/api/v1/templates/")[0]["full_path"]
    assert "channel=email" in path and "search=wel" in path


def test_create_sends_the_body_with_the_internal_key_and_is_audited(admin_api, platform):
    platform.reply("POST", "/api/v1/templates/", 201, TEMPLATE)

    body = assert_envelope(admin_api.post(TEMPLATES, NEW_TEMPLATE), status=201)

    assert body["data"] == TEMPLATE
    sent = platform.requests_to("POST", "/api/v1/templates/")[0]
    assert sent["json"] == NEW_TEMPLATE and sent["headers"]["X-API-Key"]
    entry = AuditEntry.objects.get(action=AuditAction.TEMPLATE_CREATED)
    assert entry.target == "template:welcome"


@pytest.mark.parametrize("field", ["code", "channel"])
def test_create_without_code_or_channel_names_the_field(admin_api, platform, field):
    body = {key: value for key, value in NEW_TEMPLATE.items() if key != field}

    assert field in assert_envelope(admin_api.post(TEMPLATES, body), status=400)["data"]
    assert platform.requests == []


def test_the_template_services_validation_errors_are_passed_on(admin_api, platform):
    errors = {"versions": [{"subject": ["Malformed placeholder '{{ name'."]}]}
    platform.reply("POST", "/api/v1/templates/", 400, errors, error="validation_error", message="Invalid input.")

    body = assert_envelope(admin_api.post(TEMPLATES, NEW_TEMPLATE), status=400, error="validation_error")

    assert body["data"] == errors
    assert not AuditEntry.objects.exists()


def test_detail_has_the_template_and_its_versions(admin_api, platform):
    platform.reply("GET", "/api/v1/templates/welcome/", 200, TEMPLATE)
    platform.reply("GET", "/api/v1/templates/welcome/versions/", 200, [VERSION])

    data = assert_envelope(admin_api.get(f"{TEMPLATES}welcome/"), status=200)["data"]

    assert data == {"template": TEMPLATE, "versions": [VERSION]}


def test_unknown_template_is_404_with_the_template_services_code(admin_api, platform):
    platform.reply("GET", "/api/v1/templates/nope/", 404, error="template_not_found", message="No template 'nope'.")

    assert_envelope(admin_api.get(f"{TEMPLATES}nope/"), status=404, error="template_not_found")


def test_new_version_is_created_and_audited(admin_api, platform):
    platform.reply("POST", "/api/v1/templates/welcome/versions/", 201, VERSION)

    response = admin_api.post(f"{TEMPLATES}welcome/versions/", {"language": "en", "subject": "Hey", "text_body": "x"})

    assert assert_envelope(response, status=201)["data"] == VERSION
    entry = AuditEntry.objects.get(action=AuditAction.TEMPLATE_VERSIONED)
    assert entry.details["version"] == 2 and entry.details["language"] == "en"


def test_new_version_without_language_names_it(admin_api, platform):
    assert "language" in assert_envelope(admin_api.post(f"{TEMPLATES}welcome/versions/", {}), status=400)["data"]


def test_activate_calls_the_versions_activate_route_and_is_audited(admin_api, platform):
    platform.reply("POST", "/api/v1/templates/welcome/versions/1/activate/", 200, {**VERSION, "version": 1})

    response = admin_api.post(f"{TEMPLATES}welcome/activate/", {"version": 1, "language": "en"})

    assert_envelope(response, status=200)
    assert platform.requests_to("POST", "/api/v1/templates/welcome/versions/1/activate/")[0]["json"] == {
        "language": "en"
    }
    entry = AuditEntry.objects.get(action=AuditAction.TEMPLATE_ACTIVATED)
    assert entry.details == {"version": 1, "language": "en"}


@pytest.mark.parametrize("body", [{}, {"version": 0}, {"version": "two"}])
def test_activate_needs_a_version_number(admin_api, platform, body):
    assert "version" in assert_envelope(admin_api.post(f"{TEMPLATES}welcome/activate/", body), status=400)["data"]
