"""TemplateRenderer: pushes rendered locally from the active (or pinned) version, failures classified.

The template service is a loopback stub of its active-version endpoint; the equality with
the real substitute endpoint is proved in template_service (test_local_rendering.py).
"""

import pytest

from pushes.clients import RenderError, TemplateRenderer


@pytest.fixture
def renderer(template_service):
    return TemplateRenderer()


def _render(renderer, **overrides):
    arguments = {"template_code": "welcome", "language": "en", "variables": {"name": "Ada"}} | overrides
    return renderer.render(**arguments)


def test_render_returns_title_body_data_version_and_language(renderer):
    rendered = _render(renderer)

    assert (rendered.title, rendered.body) == ("Hi Ada", "Welcome aboard, Ada!")
    assert rendered.data == {"screen": "home"}
    assert (rendered.image_url, rendered.version, rendered.language) == (None, 3, "en")


def test_personalised_pushes_need_no_call_after_the_first_fetch(renderer, template_service):
    titles = {_render(renderer, variables={"name": f"User {n}"}).title for n in range(20)}

    assert len(titles) == 20
    assert len(template_service.calls) == 1


def test_pinned_version_is_asked_for_by_number(renderer, template_service):
    rendered = _render(renderer, version=3)

    assert rendered.version == 3
    assert template_service.params_of(template_service.calls[0]) == {"language": "en", "version": "3"}


def test_a_pinned_version_that_is_gone_is_permanent_template_not_found(renderer):
    with pytest.raises(RenderError) as failure:
        _render(renderer, version=2)

    assert failure.value.permanent and failure.value.code == "template_not_found"


def test_missing_variables_are_permanent_and_named(renderer):
    with pytest.raises(RenderError) as failure:
        _render(renderer, variables={})

    assert failure.value.permanent
    assert (failure.value.code, failure.value.message) == ("missing_variables", "missing variables: name")


def test_an_email_template_is_rejected_permanently(renderer, template_service):
    template_service.add("mail", channel="email", subject="s", text_body="t")

    with pytest.raises(RenderError) as failure:
        _render(renderer, template_code="mail")

    assert failure.value.permanent and failure.value.code == "template_rejected"


def test_template_service_errors_are_transient_with_retry_after(renderer, template_service):
    template_service.server.route(
        "GET",
        "/api/v1/templates/welcome/active/",
        lambda request: (429, {"success": False, "data": None, "error": "rate_limited"}, {"Retry-After": "7"}),
    )

    with pytest.raises(RenderError) as failure:
        _render(renderer)

    assert not failure.value.permanent
    assert (failure.value.code, failure.value.retry_after) == ("template_service_unavailable", 7.0)
