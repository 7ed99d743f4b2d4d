"""Django admin: templates and versions are browsable, version content is read-only."""

import pytest
from django.contrib.auth import get_user_model

from message_templates import services
from message_templates.models import TemplateVersion
from message_templates.tests.factories import EmailTemplateFactory, PushTemplateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests")
    client.force_login(user)
    return client


@pytest.fixture
def template():
    template = EmailTemplateFactory(code="welcome", languages=("en", "pt"))
    services.template_version_create(template=template, language="en", content={"subject": "v2", "text_body": "v2"})
    return template


def test_template_and_version_lists_render(admin_client, template):
    PushTemplateFactory(code="welcome_push")

    assert admin_client.get("/admin/message_templates/template/").status_code == 200
    assert admin_client.get("/admin/message_templates/templateversion/").status_code == 200
    assert admin_client.get(f"/admin/message_templates/template/{template.pk}/change/").status_code == 200


def test_version_page_shows_content_but_does_not_change_it(admin_client, template):
    version = TemplateVersion.objects.get(template=template, language="en", version=1)
    url = f"/admin/message_templates/templateversion/{version.pk}/change/"

    page = admin_client.get(url)
    admin_client.post(url, {"subject": "changed", "text_body": "changed"})

    assert page.status_code == 200
    assert "[en] Welcome" in page.content.decode()
    version.refresh_from_db()
    assert version.subject == "[en] Welcome, {{ name }}"


def test_versions_cannot_be_added_or_deleted_in_the_admin(admin_client, template):
    version = TemplateVersion.objects.filter(template=template).first()

    assert admin_client.get("/admin/message_templates/templateversion/add/").status_code == 403
    assert admin_client.get(f"/admin/message_templates/templateversion/{version.pk}/delete/").status_code == 403


def test_activate_action_makes_the_selected_version_active(admin_client, template):
    version_2 = TemplateVersion.objects.get(template=template, language="en", version=2)
    services.template_substitute(code="welcome", variables={"name": "A", "link": "l"})  # cache the index

    response = admin_client.post(
        "/admin/message_templates/templateversion/",
        {"action": "activate", "_selected_action": [str(version_2.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Activated" in response.content.decode()
    version_2.refresh_from_db()
    assert version_2.is_active
    assert services.template_substitute(code="welcome", variables={})["subject"] == "v2"


def test_soft_delete_action_deletes_templates(admin_client, template):
    admin_client.post(
        "/admin/message_templates/template/",
        {"action": "soft_delete", "_selected_action": [str(template.pk)]},
        follow=True,
    )

    template.refresh_from_db()
    assert template.is_deleted


def test_template_description_is_editable_but_code_is_not(admin_client, template):
    url = f"/admin/message_templates/template/{template.pk}/change/"

    # the read-only versions inline still sends its (empty) management form, as a browser does
    inline = {"versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"}

    response = admin_client.post(
        url, {"description": "new words", "code": "renamed", "category": "transactional", **inline}
    )

    assert response.status_code == 302

    template.refresh_from_db()
    assert (template.description, template.code) == ("new words", "welcome")


def test_template_category_is_set_in_the_admin(admin_client, template):
    url = f"/admin/message_templates/template/{template.pk}/change/"
    inline = {"versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"}

    response = admin_client.post(url, {"description": "", "category": "marketing", **inline})

    assert response.status_code == 302
    template.refresh_from_db()
    assert template.category_id == "marketing"
