"""TemplateVersions: the caching rules of local rendering, against a loopback template service.

Equality with the real substitute endpoint is proved in the template service's own tests
(message_templates/tests/test_local_rendering.py).
"""

import threading

import pytest

from notification_common.http_client import ServiceClient
from notification_common.template_versions import TemplateRenderError, TemplateVersions
from notification_devtools.testing.http import StubHTTPServer
from notification_devtools.testing.templates import TemplateServiceStub


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def templates():
    with StubHTTPServer() as server:
        stub = TemplateServiceStub(server)
        stub.add("welcome", "en", version=1, subject="Hi {{ name }}", text_body="t", html_body="<b>{{ name }}</b>")
        stub.add("welcome", "pt", version=4, subject="Olá {{ name }}", text_body="t")
        yield stub


@pytest.fixture
def clock():
    return Clock()


def _versions(templates, clock, **options) -> TemplateVersions:
    client = ServiceClient("template_service", templates.server.url, api_key="k", retries=0)
    return TemplateVersions(client=client, clock=clock, **options)


def test_default_ttl_is_the_shared_setting(templates, clock):
    assert _versions(templates, clock).ttl_seconds == 5.0


def test_a_language_is_normalised_before_it_is_cached_or_asked_for(templates, clock):
    versions = _versions(templates, clock, ttl_seconds=5)

    first = versions.render("welcome", "pt-br", {"name": "Ana"})
    second = versions.render("welcome", "PT_BR", {"name": "Bia"})

    assert (first["language"], first["requested_language"], second["subject"]) == ("pt", "pt-BR", "Olá Bia")
    assert [templates.params_of(call) for call in templates.calls] == [{"language": "pt-BR"}]


def test_a_malformed_language_is_permanent_and_asks_nothing(templates, clock):
    with pytest.raises(TemplateRenderError) as failure:
        _versions(templates, clock).render("welcome", "not a language", {"name": "A"})

    assert failure.value.permanent and failure.value.code == "template_invalid"
    assert templates.calls == []


def test_concurrent_renders_after_the_ttl_make_one_fetch(templates, clock):
    versions = _versions(templates, clock, ttl_seconds=5)
    versions.render("welcome", "en", {"name": "A"})
    clock.now += 5
    release = templates.hold(lambda code: True)
    threads = [threading.Thread(target=versions.render, args=("welcome", "en", {"name": f"U{n}"})) for n in range(8)]
    for thread in threads:
        thread.start()

    release.set()
    for thread in threads:
        thread.join(10)

    assert len(templates.calls) == 2


def test_compiled_versions_are_bounded_by_an_lru(templates, clock):
    for n in range(5):
        templates.add(f"t{n}", "en", subject="s {{ name }}", text_body="t")
    versions = _versions(templates, clock, ttl_seconds=60, cache_size=2)

    for n in range(5):
        versions.render(f"t{n}", "en", {"name": "A"})
    versions.render("t4", "en", {"name": "A"})
    versions.render("t0", "en", {"name": "A"})

    assert len(versions._compiled) == 2
    assert len(templates.calls) == 6  # t4 still cached; t0 was evicted


def test_prefetch_fetches_each_uncached_pair_once(templates, clock):
    templates.add("reminder", "en", subject="s", text_body="t")
    versions = _versions(templates, clock)

    versions.prefetch([("welcome", "en"), ("reminder", "en"), ("welcome", "en"), ("nope", "en")], concurrency=4)
    versions.render("welcome", "en", {"name": "A"})
    versions.render("reminder", "en", {})

    assert sorted(call["path"] for call in templates.calls) == [
        "/api/v1/templates/nope/active/",
        "/api/v1/templates/reminder/active/",
        "/api/v1/templates/welcome/active/",
    ]


def test_a_removed_template_is_forgotten(templates, clock):
    versions = _versions(templates, clock, ttl_seconds=5)
    versions.render("welcome", "en", {"name": "A"})
    templates.remove("welcome")
    clock.now += 5

    with pytest.raises(TemplateRenderError) as failure:
        versions.render("welcome", "en", {"name": "A"})

    assert failure.value.permanent and failure.value.code == "template_not_found"
    assert versions._active == {} and len(versions._compiled) == 0
