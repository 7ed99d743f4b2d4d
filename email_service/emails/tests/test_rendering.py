"""TemplateRenderer: the substitute contract, failure classification and the two caches."""

import pytest

from emails.clients import TemplateRenderer
from emails.exceptions import DeliveryFailure
from emails.messages import parse_email_request
from emails.tests.conftest import email_message


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def renderer(template_service, clock):
    renderer = TemplateRenderer(version_ttl_seconds=15, clock=clock)
    yield renderer
    renderer.close()


def _request(**overrides):
    return parse_email_request(email_message(**overrides))


def test_render_returns_subject_bodies_language_and_version(renderer):
    rendered = renderer.render(_request())

    assert rendered.subject == "Welcome, Ada"
    assert rendered.text_body == "Hi Ada, open https://example.com/start"
    assert (rendered.language, rendered.version) == ("en", 3)


def test_request_carries_the_service_key_and_the_trace_id(renderer, template_service):
    renderer.render(_request())

    [call] = template_service.calls
    assert call["headers"]["X-API-Key"]
    assert call["headers"]["X-Request-ID"] == "trace-abc"
    assert call["json"] == {
        "template_code": "welcome",
        "language": "en",
        "variables": {"name": "Ada", "link": "https://example.com/start"},
    }


def test_same_version_and_variables_are_rendered_from_the_cache(renderer, template_service):
    renderer.render(_request())
    renderer.render(_request())

    assert len(template_service.calls) == 1


def test_other_variables_ask_for_the_cached_active_version_explicitly(renderer, template_service):
    renderer.render(_request())
    renderer.render(_request(variables={"name": "Grace", "link": "x"}))

    assert template_service.calls[1]["json"]["version"] == 3


def test_active_version_is_asked_again_after_its_short_ttl(renderer, template_service, clock):
    renderer.render(_request())
    template_service.templates["welcome"]["en"] = {"version": 4, "subject": "New {{ name }}", "text_body": "v4"}
    template_service.templates["welcome"]["en"]["html_body"] = ""
    clock.now += 16

    rendered = renderer.render(_request())

    assert (rendered.subject, rendered.version) == ("New Ada", 4)
    assert "version" not in template_service.calls[1]["json"]


def test_language_fallback_is_remembered_for_the_requested_language(renderer, template_service):
    first = renderer.render(_request(language="en-GB"))
    renderer.render(_request(language="en-GB"))

    assert first.language == "en"
    assert len(template_service.calls) == 1


def test_render_many_renders_identical_requests_once_and_others_concurrently(renderer, template_service):
    requests = [_request() for _ in range(3)] + [_request(variables={"name": f"U{n}", "link": "x"}) for n in range(4)]

    results = renderer.render_many(requests)

    assert len(results) == 7
    assert all(not isinstance(result, DeliveryFailure) for result in results.values())
    assert len(template_service.calls) == 5


def test_unknown_template_is_a_permanent_failure(renderer):
    with pytest.raises(DeliveryFailure) as failure:
        renderer.render(_request(template_code="nope"))

    assert failure.value.permanent
    assert failure.value.reason.startswith("template_not_found")
    assert failure.value.stage == "render"


def test_missing_variables_are_a_permanent_failure_naming_them(renderer):
    with pytest.raises(DeliveryFailure) as failure:
        renderer.render(_request(variables={}))

    assert failure.value.permanent
    assert failure.value.reason == "missing_variables: link, name"


def test_template_service_unreachable_is_transient(template_service, settings):
    from notification_common.service_clients import reset_clients

    settings.TEMPLATE_SERVICE_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    reset_clients()
    renderer = TemplateRenderer()

    with pytest.raises(DeliveryFailure) as failure:
        renderer.render(_request())

    assert not failure.value.permanent
    assert failure.value.reason.startswith("template_service_unavailable")


def test_template_service_5xx_is_transient(renderer, template_service):
    template_service.server.fail_next(3, status=500)

    with pytest.raises(DeliveryFailure) as failure:
        renderer.render(_request())

    assert not failure.value.permanent


def test_our_key_refused_is_transient_so_it_can_be_fixed_while_messages_wait(renderer, template_service):
    template_service.server.reply("POST", "/api/v1/templates/substitute/", 403, error="permission_denied")

    with pytest.raises(DeliveryFailure) as failure:
        renderer.render(_request())

    assert not failure.value.permanent
    assert "HTTP 403" in failure.value.reason
