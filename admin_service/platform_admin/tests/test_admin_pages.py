"""Every page of the Django admin: 200 for staff, the login page for anyone else."""

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from notification_common.rabbitmq import EMAIL_QUEUE
from notification_devtools.testing.rabbit import drain
from platform_admin.constants import AuditAction
from platform_admin.models import ApiKey, AuditEntry, DeadLetter
from platform_admin.services import audit_record
from platform_admin.tests.factories import ADMIN_PASSWORD, ApiKeyFactory, DeadLetterFactory

pytestmark = pytest.mark.django_db

USER_ID = str(uuid.uuid4())
USER = {"id": USER_ID, "name": "Grace", "email": "grace@example.com", "is_active": True, "devices": []}
TEMPLATE = {"code": "welcome", "channel": "email", "default_language": "en"}


@pytest.fixture
def objects(admin_user):
    return {
        "api_key": ApiKeyFactory(),
        "dead_letter": DeadLetterFactory(),
        "audit": audit_record(actor="ada", action=AuditAction.LOGIN_SUCCEEDED),
    }


@pytest.fixture
def services_answering(platform):
    platform.reply("GET", "/api/v1/health/", 200, {"status": "up", "checks": {}})
    platform.reply("GET", "/api/v1/users/", 200, [USER])
    platform.reply("GET", f"/api/v1/users/{USER_ID}/", 200, USER)
    platform.reply("GET", f"/api/v1/users/{USER_ID}/notifications/", 200, [])
    platform.reply("GET", "/api/v1/templates/", 200, [TEMPLATE])
    platform.reply("GET", "/api/v1/templates/welcome/", 200, TEMPLATE)
    platform.reply("GET", "/api/v1/templates/welcome/versions/", 200, [{"version": 1, "language": "en"}])
    return platform


def _pages(objects) -> list[str]:
    return [
        reverse("admin:index"),
        reverse("admin:platform_dashboard"),
        reverse("admin:platform_users"),
        reverse("admin:platform_user_detail", args=[USER_ID]),
        reverse("admin:platform_templates"),
        reverse("admin:platform_template_create"),
        reverse("admin:platform_template_detail", args=["welcome"]),
        reverse("admin:platform_admin_apikey_changelist"),
        reverse("admin:platform_admin_apikey_add"),
        reverse("admin:platform_admin_apikey_change", args=[objects["api_key"].pk]),
        reverse("admin:platform_admin_deadletter_changelist"),
        reverse("admin:platform_admin_deadletter_change", args=[objects["dead_letter"].pk]),
        reverse("admin:platform_admin_auditentry_changelist"),
        reverse("admin:platform_admin_auditentry_change", args=[objects["audit"].pk]),
        reverse("admin:auth_user_changelist"),
    ]


def test_every_admin_page_renders_for_staff(staff_browser, objects, services_answering, rabbit_channel):
    for url in _pages(objects):
        assert staff_browser.get(url).status_code == 200, url


def test_every_admin_page_sends_anyone_else_to_the_login(objects):
    anonymous = Client()
    not_staff = Client()
    not_staff.force_login(get_user_model().objects.create_user("visitor", "v@example.com", "x" * 12))
    for client in (anonymous, not_staff):
        for url in _pages(objects):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("admin:login")), url


def test_the_dashboard_page_draws_svg_charts_and_refreshes_itself(staff_browser, services_answering, rabbit_channel):
    html = staff_browser.get(reverse("admin:platform_dashboard")).content.decode()

    assert '<meta http-equiv="refresh" content="10">' in html
    assert html.count("<svg") >= 4 and "Messages ready per queue" in html
    assert 'src="http' not in html and 'href="http' not in html  # nothing fetched from elsewhere


def test_the_index_links_the_operations_pages(staff_browser):
    html = staff_browser.get(reverse("admin:index")).content.decode()

    assert reverse("admin:platform_dashboard") in html and reverse("admin:platform_templates") in html


def test_the_pages_show_a_service_that_is_down_instead_of_failing(staff_browser, settings):
    settings.USER_SERVICE_URL = settings.TEMPLATE_SERVICE_URL = "http://127.0.0.1:9"

    for url in (reverse("admin:platform_users"), reverse("admin:platform_templates")):
        response = staff_browser.get(url)
        assert response.status_code == 200 and b"errornote" in response.content


def test_replay_action_republishes_and_marks_the_dead_letters(staff_browser, rabbit_channel):
    letters = DeadLetterFactory.create_batch(2)

    response = staff_browser.post(
        reverse("admin:platform_admin_deadletter_changelist"),
        {"action": "replay_selected", "_selected_action": [str(d.pk) for d in letters]},
        follow=True,
    )

    assert response.status_code == 200 and b"2 replayed" in response.content
    assert len(drain(rabbit_channel, EMAIL_QUEUE)) == 2
    assert not DeadLetter.objects.filter(replayed_at__isnull=True).exists()


def test_adding_a_key_in_the_admin_shows_it_once(staff_browser):
    response = staff_browser.post(
        reverse("admin:platform_admin_apikey_add"), {"name": "ops", "scopes": ["internal"]}, follow=True
    )

    key = ApiKey.objects.get(name="ops")
    html = response.content.decode()
    assert response.status_code == 200 and key.prefix in html and "not shown again" in html
    assert AuditEntry.objects.filter(action=AuditAction.API_KEY_CREATED, actor="ada").exists()


def test_revoke_action_revokes_the_selected_keys(staff_browser):
    key = ApiKeyFactory()

    staff_browser.post(
        reverse("admin:platform_admin_apikey_changelist"),
        {"action": "revoke_selected", "_selected_action": [str(key.pk)]},
    )

    key.refresh_from_db()
    assert key.revoked_at is not None


def test_deactivating_a_user_from_the_admin_page_is_audited(staff_browser, services_answering):
    services_answering.reply("POST", f"/api/v1/users/{USER_ID}/deactivate/", 200, {**USER, "is_active": False})

    response = staff_browser.post(reverse("admin:platform_user_detail", args=[USER_ID]), {"action": "deactivate"})

    assert response.status_code == 302
    assert AuditEntry.objects.filter(action=AuditAction.USER_DEACTIVATED, target=f"user:{USER_ID}").exists()


def test_creating_a_template_from_the_admin_page(staff_browser, services_answering):
    services_answering.reply("POST", "/api/v1/templates/", 201, TEMPLATE)

    response = staff_browser.post(reverse("admin:platform_template_create"), {"payload": '{"code": "welcome"}'})

    assert response.status_code == 302
    assert services_answering.requests_to("POST", "/api/v1/templates/")[0]["json"] == {"code": "welcome"}


def test_activating_a_version_from_the_admin_page(staff_browser, services_answering):
    services_answering.reply("POST", "/api/v1/templates/welcome/versions/1/activate/", 200, {"version": 1})

    response = staff_browser.post(
        reverse("admin:platform_template_detail", args=["welcome"]), {"action": "activate", "version": "1"}
    )

    assert response.status_code == 302
    assert AuditEntry.objects.filter(action=AuditAction.TEMPLATE_ACTIVATED).exists()


def test_login_form_attempts_are_rate_limited(settings, admin_user):
    settings.ADMIN_LOGIN_ATTEMPTS_PER_IP = 2
    browser = Client()
    for _ in range(2):
        assert browser.post(reverse("admin:login"), {"username": "ada", "password": "wrong"}).status_code == 200

    response = browser.post(reverse("admin:login"), {"username": "ada", "password": "wrong"})

    assert response.status_code == 429 and int(response["Retry-After"]) > 0


def test_admin_site_logins_are_audited_both_ways(admin_user):
    browser = Client()

    browser.post(reverse("admin:login"), {"username": "ada", "password": "wrong"})
    browser.post(reverse("admin:login"), {"username": "ada", "password": ADMIN_PASSWORD})

    entries = list(AuditEntry.objects.order_by("created_at").values_list("action", "actor", "details"))
    assert entries == [
        (AuditAction.LOGIN_FAILED, "ada", {"via": "admin_site", "reason": "bad_credentials"}),
        (AuditAction.LOGIN_SUCCEEDED, "ada", {"via": "admin_site"}),
    ]


def test_the_dead_letter_detail_page_offers_no_save(staff_browser):
    from platform_admin.tests.factories import DeadLetterFactory

    dead_letter = DeadLetterFactory()

    page = staff_browser.get(reverse("admin:platform_admin_deadletter_change", args=[dead_letter.pk]))

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    posted = staff_browser.post(reverse("admin:platform_admin_deadletter_change", args=[dead_letter.pk]), {})
    assert posted.status_code == 403
