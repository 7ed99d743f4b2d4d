"""The active index is cached in Redis and invalidated on change; versions are cached for good."""

import pytest
from django.test import override_settings

from message_templates import caching, services
from message_templates.selectors import template_active_index
from message_templates.tests.factories import EmailTemplateFactory

pytestmark = pytest.mark.django_db

VARIABLES = {"name": "Ada", "link": "x"}


def render(**kwargs) -> dict:
    return services.template_substitute(code="welcome", variables=VARIABLES, **kwargs)


def new_version(template, marker, *, activate):
    return services.template_version_create(
        template=template, language="en", content={"subject": marker, "text_body": marker}, activate=activate
    )


def test_cached_active_version_is_rendered_without_touching_the_database(django_assert_num_queries):
    EmailTemplateFactory(code="welcome", languages=("en", "pt"))
    render(language="pt-BR")

    with django_assert_num_queries(0):
        assert render(language="pt-BR")["subject"] == "[pt] Welcome, Ada"


def test_version_content_survives_in_redis_when_the_process_cache_is_empty(django_assert_num_queries):
    EmailTemplateFactory(code="welcome")
    render()
    caching.compiled_versions.clear()

    with django_assert_num_queries(0):
        assert render()["subject"] == "[en] Welcome, Ada"


def test_activation_invalidates_the_cached_index():
    template = EmailTemplateFactory(code="welcome")
    new_version(template, "second", activate=False)
    assert render()["version"] == 1

    services.template_version_activate(template=template, language="en", version=2)

    assert render()["subject"] == "second"


def test_new_active_version_invalidates_the_cached_index():
    template = EmailTemplateFactory(code="welcome")
    render()

    new_version(template, "second", activate=True)

    assert render()["version"] == 2


def test_new_inactive_version_leaves_the_cached_index_alone():
    template = EmailTemplateFactory(code="welcome")
    render()

    new_version(template, "second", activate=False)

    assert caching.active_index_get("welcome") is not None


def test_delete_invalidates_the_cached_index():
    template = EmailTemplateFactory(code="welcome")
    render()

    services.template_delete(template=template)

    assert caching.active_index_get("welcome") is None
    with pytest.raises(Exception, match="does not exist"):
        render()


def test_invalidation_is_repeated_after_commit(django_capture_on_commit_callbacks):
    template = EmailTemplateFactory(code="welcome")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.template_version_activate(template=template, language="en", version=1)
        new_version(template, "second", activate=True)
    render()  # a reader caching the index before the writer's commit
    for callback in callbacks:
        callback()

    assert caching.active_index_get("welcome") is None


def test_index_is_cached_with_the_configured_ttl(redis_client, settings):
    settings.TEMPLATE_ACTIVE_CACHE_SECONDS = 120
    EmailTemplateFactory(code="welcome")

    template_active_index(code="welcome")

    keys = [key for key in redis_client.keys("*") if b"templates:active:v1:welcome" in key]
    assert len(keys) == 1
    assert 0 < redis_client.ttl(keys[0]) <= 120


def test_version_content_is_cached_without_expiry(redis_client):
    EmailTemplateFactory(code="welcome")

    render()

    keys = [key for key in redis_client.keys("*") if b"templates:version:v1:" in key]
    assert len(keys) == 1
    assert redis_client.ttl(keys[0]) == -1


def test_substitute_still_works_from_the_database_when_redis_is_down(settings):
    EmailTemplateFactory(code="welcome")
    caches = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}

    with override_settings(CACHES=caches):
        assert render()["subject"] == "[en] Welcome, Ada"
        services.template_version_activate(template=_template(), language="en", version=1)


def test_process_cache_keeps_at_most_its_size():
    lru = caching.LocalLRU(maxsize=2)
    lru.put("a", 1)
    lru.put("b", 2)
    lru.get("a")

    lru.put("c", 3)

    assert (lru.get("a"), lru.get("b"), lru.get("c")) == (1, None, 3)


def _template():
    from message_templates.models import Template

    return Template.objects.get(code="welcome")
