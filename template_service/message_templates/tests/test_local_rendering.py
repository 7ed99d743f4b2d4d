"""The consumers' local rendering (notification_common.template_versions) against this service,
served over real HTTP: the same answers as the substitute endpoint, and activations that
reach it within the active-version TTL."""

from io import StringIO

import pytest
from django.core.management import call_command

from message_templates import services
from message_templates.selectors import template_get
from message_templates.starter_templates import STARTER_TEMPLATES
from notification_common.http_client import ServiceClient
from notification_common.template_versions import TemplateRenderError, TemplateVersions

pytestmark = pytest.mark.django_db(transaction=True)

TTL = 5.0
# Values that exercise every rule: HTML escaping, line breaks in single-line fields,
# placeholder-looking text, non-string values, non-ASCII.
NASTY = {
    "name": '<script>alert("x")</script> & Ada\nBcc: evil@example.com',
    "link": "https://example.com/?a=1&b=<2>",
    "expires_in_minutes": 30,
    "order_id": {"id": 1042, "tags": ["a", "b"]},
    "status": "{{ name }} {% if %} ção",
}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


class OneRequestPerConnection(ServiceClient):
    """A kept-alive connection would keep a live-server thread, and its database session,
    open past the test database's teardown."""

    def request(self, method: str, path: str, **kwargs):
        kwargs["headers"] = {"Connection": "close", **(kwargs.get("headers") or {})}
        return super().request(method, path, **kwargs)


@pytest.fixture
def client(live_server, internal_key):
    return OneRequestPerConnection("template_service", live_server.url, api_key=internal_key, retries=0)


@pytest.fixture
def versions(client, clock):
    return TemplateVersions(client=client, ttl_seconds=TTL, clock=clock)


def _substitute(internal_client, **body) -> tuple[int, dict]:
    response = internal_client.post("/api/v1/templates/substitute/", body, format="json")
    return response.status_code, response.json()


@pytest.fixture
def starters():
    call_command("load_templates", stdout=StringIO())
    return [(starter["code"], version["language"]) for starter in STARTER_TEMPLATES for version in starter["versions"]]


def test_starter_templates_render_the_same_locally_and_through_substitute(internal_client, versions, starters):
    for code, language in [*starters, ("welcome", "pt-BR"), ("welcome", "de"), ("order_update", None)]:
        for variables in (NASTY, {**NASTY, "name": "Grace", "order_id": 7}):
            status, body = _substitute(internal_client, template_code=code, language=language, variables=variables)
            assert status == 200, body

            local = versions.render(code, language, variables)

            assert local == body["data"], (code, language)


def test_missing_variables_are_named_the_same_way_as_by_substitute(internal_client, versions, starters):
    status, body = _substitute(internal_client, template_code="password_reset", language="pt", variables={"name": "A"})

    with pytest.raises(TemplateRenderError) as failure:
        versions.render("password_reset", "pt", {"name": "A"})

    assert status == 422
    assert failure.value.permanent
    assert (failure.value.code, failure.value.missing) == ("missing_variables", body["data"]["missing"])


def test_personalised_renders_need_one_fetch_per_ttl(versions, starters, clock):
    for n in range(50):
        versions.render("welcome", "en", {"name": f"User {n}", "link": f"https://example.com/{n}"})
    clock.now += TTL - 0.01
    versions.render("welcome", "en", {"name": "last", "link": "x"})

    assert versions.fetches == 1


def test_activation_and_rollback_reach_local_renders_within_the_ttl(internal_client, versions, clock, starters):
    template = template_get(code="welcome")
    assert versions.render("welcome", "en", NASTY)["version"] == 1
    services.template_version_create(
        template=template, language="en", content={"subject": "v2 {{ name }}", "text_body": "v2"}, activate=True
    )

    before_ttl = versions.render("welcome", "en", {"name": "Ada", "link": "x"})
    clock.now += TTL
    after_ttl = versions.render("welcome", "en", {"name": "Ada", "link": "x"})
    services.template_version_activate(template=template, language="en", version=1)
    clock.now += TTL
    rolled_back = versions.render("welcome", "en", {"name": "Ada", "link": "x"})

    assert before_ttl["version"] == 1
    assert (after_ttl["version"], after_ttl["subject"]) == (2, "v2 Ada")
    assert rolled_back["version"] == 1


def test_a_deleted_template_is_forgotten_and_a_new_one_under_its_code_fetched(versions, clock, starters):
    versions.render("welcome", "en", NASTY)
    services.template_delete(template=template_get(code="welcome"))
    clock.now += TTL

    with pytest.raises(TemplateRenderError) as failure:
        versions.render("welcome", "en", NASTY)
    services.template_create(
        code="welcome", channel="email", versions=[{"language": "en", "subject": "New {{ name }}", "text_body": "n"}]
    )
    rendered = versions.render("welcome", "en", {"name": "Ada"})

    assert failure.value.permanent and failure.value.code == "template_not_found"
    assert (rendered["subject"], rendered["version"]) == ("New Ada", 1)


def test_pinned_version_renders_that_version(versions, starters):
    template = template_get(code="welcome")
    services.template_version_create(
        template=template, language="en", content={"subject": "v2", "text_body": "v2"}, activate=True
    )

    rendered = versions.render("welcome", "en", NASTY, version=1)

    assert rendered["version"] == 1 and rendered["subject"].startswith("Welcome, ")


def test_unknown_template_is_permanent_and_unreachable_service_transient(versions, internal_key, starters):
    with pytest.raises(TemplateRenderError) as unknown:
        versions.render("nope", "en", {})
    unreachable = TemplateVersions(client=ServiceClient("template_service", "http://127.0.0.1:9", retries=0))
    with pytest.raises(TemplateRenderError) as down:
        unreachable.render("welcome", "en", NASTY)

    assert unknown.value.permanent and unknown.value.code == "template_not_found"
    assert not down.value.permanent and down.value.code == "template_service_unavailable"


def test_a_push_template_asked_for_as_email_is_a_permanent_error(versions, starters):
    with pytest.raises(TemplateRenderError) as failure:
        versions.render("welcome_push", "en", NASTY, channel="email")

    assert failure.value.permanent and failure.value.code == "template_invalid"
