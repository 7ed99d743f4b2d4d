"""TemplateRenderer: emails rendered locally from the active version, failures classified.

The template service is a loopback stub of its active-version endpoint; the equality with
the real substitute endpoint is proved in template_service (test_local_rendering.py).
"""

import pytest

from emails.clients import TemplateRenderer
from emails.errors import DeliveryFailure
from emails.queue_messages import parse_email_request
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


def test_values_are_escaped_in_the_html_body_only(renderer):
    rendered = renderer.render(_request(variables={"name": "<b>Ada</b> & co", "link": "x"}))

    assert rendered.subject == "Welcome, <b>Ada</b> & co"
    assert "<b>&lt;b&gt;Ada&lt;/b&gt; &amp; co</b>" in rendered.html_body


def test_fetch_carries_the_service_key_and_the_trace_id(renderer, template_service):
    renderer.render(_request())

    [call] = template_service.calls
    assert call["headers"]["X-API-Key"]
    assert call["headers"]["X-Request-ID"] == "trace-abc"
    assert template_service.params_of(call) == {"language": "en"}


def test_personalised_emails_need_no_call_after_the_first_fetch(renderer, template_service):
    renderings = [
        renderer.render(_request(variables={"name": f"User {n}", "link": f"https://x/{n}"})) for n in range(20)
    ]

    assert len(template_service.calls) == 1
    assert renderer.calls == 1
    assert len({rendered.subject for rendered in renderings}) == 20


def test_active_version_is_asked_again_after_its_ttl(renderer, template_service, clock):
    renderer.render(_request())
    template_service.add("welcome", "en", version=4, subject="New {{ name }}", text_body="v4")
    clock.now += 14.9
    before = renderer.render(_request())
    clock.now += 0.1

    after = renderer.render(_request())

    assert before.version == 3
    assert (after.subject, after.version) == ("New Ada", 4)
    assert len(template_service.calls) == 2


def test_language_fallback_is_remembered_for_the_requested_language(renderer, template_service):
    first = renderer.render(_request(language="en-gb"))
    renderer.render(_request(language="EN_GB"))

    assert first.language == "en"
    assert len(template_service.calls) == 1
    assert template_service.params_of(template_service.calls[0]) == {"language": "en-GB"}


def test_render_many_fetches_each_template_once_and_renders_the_rest_locally(renderer, template_service):
    template_service.add("reminder", "en", subject="Psst {{ name }}", text_body="t")
    requests = [_request(variables={"name": f"U{n}", "link": "x"}) for n in range(4)]
    requests += [_request(template_code="reminder", variables={"name": f"R{n}"}) for n in range(3)]

    results = renderer.render_many(requests)

    assert [results[r.notification_id].subject for r in requests[4:]] == ["Psst R0", "Psst R1", "Psst R2"]
    assert len(template_service.calls) == 2


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
    assert failure.value.reason == "missing_variables: name, link"


def test_a_push_template_is_a_permanent_template_invalid(renderer, template_service):
    template_service.add("push_only", channel="push", title="t", body="b")

    with pytest.raises(DeliveryFailure) as failure:
        renderer.render(_request(template_code="push_only"))

    assert failure.value.permanent
    assert failure.value.reason.startswith("template_invalid")


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
    template_service.server.reply("GET", "/api/v1/templates/welcome/active/", 403, error="permission_denied")

    with pytest.raises(DeliveryFailure) as failure:
        renderer.render(_request())

    assert not failure.value.permanent
    assert "HTTP 403" in failure.value.reason
