"""manage.py load_templates: the starter templates, loaded idempotently."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from message_templates import services
from message_templates.models import Template, TemplateVersion
from message_templates.starter_templates import STARTER_TEMPLATES

pytestmark = pytest.mark.django_db


def load(*args) -> str:
    out = StringIO()
    call_command("load_templates", *args, stdout=out)
    return out.getvalue()


def test_loads_welcome_password_reset_and_order_update_for_email_and_push_in_several_languages():
    load()

    templates = {t.code: t.channel for t in Template.objects.all()}
    assert templates == {
        "welcome": "email",
        "welcome_push": "push",
        "password_reset": "email",
        "order_update": "email",
        "order_update_push": "push",
    }
    for code in templates:
        languages = set(
            TemplateVersion.objects.filter(template__code=code, is_active=True).values_list("language", flat=True)
        )
        assert {"en", "pt", "es"} <= languages


def test_starter_templates_render_with_their_variables():
    load()

    rendered = services.template_substitute(
        code="password_reset",
        language="pt-BR",
        variables={"name": "Ana", "link": "https://x", "expires_in_minutes": 30},
    )

    assert rendered["language"] == "pt"
    assert "30 minutos" in rendered["text_body"]


def test_running_twice_changes_nothing():
    load()
    before = list(TemplateVersion.objects.order_by("id").values())

    output = load()

    assert list(TemplateVersion.objects.order_by("id").values()) == before
    assert "0 created, 0 changed" in output


def test_missing_language_is_added():
    load()
    TemplateVersion.objects.filter(template__code="welcome", language="es").delete()

    output = load()

    assert "welcome es: created version 1" in output
    assert TemplateVersion.objects.get(template__code="welcome", language="es").is_active


def test_an_edited_template_is_kept_and_reported():
    load()
    welcome = Template.objects.get(code="welcome")
    services.template_version_create(
        template=welcome, language="en", content={"subject": "Custom", "text_body": "Custom"}, activate=True
    )

    output = load()

    assert "welcome en: active version 2 differs from the starter; kept" in output
    assert TemplateVersion.objects.get(template=welcome, language="en", is_active=True).version == 2


def test_update_publishes_the_starter_content_as_a_new_active_version():
    load()
    welcome = Template.objects.get(code="welcome")
    services.template_version_create(
        template=welcome, language="en", content={"subject": "Custom", "text_body": "Custom"}, activate=True
    )

    output = load("--update")

    assert "welcome en: starter content published as version 3" in output
    active = TemplateVersion.objects.get(template=welcome, language="en", is_active=True)
    assert (active.version, active.subject) == (3, STARTER_TEMPLATES[0]["versions"][0]["subject"])


def test_deleted_starter_is_not_recreated():
    load("--only", "welcome")
    services.template_delete(template=Template.objects.get(code="welcome"))

    output = load("--only", "welcome")

    assert "welcome: deleted; not recreated" in output
    assert not Template.objects.filter(code="welcome", is_deleted=False).exists()


def test_dry_run_saves_nothing():
    output = load("--dry-run")

    assert "welcome: created" in output
    assert not Template.objects.exists()


def test_unknown_code_in_only_is_a_command_error():
    with pytest.raises(CommandError, match="nope"):
        load("--only", "nope")
