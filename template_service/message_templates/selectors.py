"""Reads: templates, versions, the cached active index and compiled versions, stats (list filters: filters.py)."""

import re
from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet

from message_templates import caching
from message_templates.errors import InvalidTemplateInput, TemplateNotFound, VersionNotFound
from message_templates.filters import TemplateFilter, TemplateVersionFilter
from message_templates.models import CHANNEL_FIELDS, Category, Channel, Template, TemplateVersion
from notification_common.languages import InvalidLanguage, fallback_chain, normalize_language
from notification_common.rendering import CompiledContent, compile_version_content

# A template code: also keeps arbitrary text out of cache keys and URLs.
CODE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$")


@dataclass(frozen=True)
class ActiveIndex:
    """What substitution needs to pick a version, without touching the database."""

    template_id: str
    code: str
    channel: str
    default_language: str
    active: dict[str, int]  # language -> active version number

    def as_dict(self) -> dict:
        return {
            "template_id": self.template_id,
            "code": self.code,
            "channel": self.channel,
            "default_language": self.default_language,
            "active": self.active,
        }


@dataclass(frozen=True)
class VersionSnapshot:
    """An immutable version, compiled once per process."""

    template_id: str
    channel: str
    language: str
    version: int
    content: dict
    compiled: CompiledContent


def _active_versions_prefetch() -> Prefetch:
    return Prefetch(
        "versions",
        queryset=TemplateVersion.objects.filter(is_active=True).only("id", "template_id", "language", "version"),
        to_attr="active_versions",
    )


def template_get(*, code: str) -> Template:
    template = (
        Template.objects.filter(code=code, is_deleted=False)
        .select_related("category")
        .prefetch_related(_active_versions_prefetch())
        .first()
    )
    if template is None:
        raise TemplateNotFound(code)
    return template


def template_list(*, channel: str | None = None, language: str | None = None, search: str | None = None) -> QuerySet:
    """Live templates by code; filters (message_templates.filters.TemplateFilter): ``channel``,
    ``language`` (has an active version in it), ``search`` (in the code)."""
    filters = {"channel": channel, "language": language, "search": search}
    queryset = TemplateFilter(filters, queryset=Template.objects.filter(is_deleted=False)).qs
    return queryset.select_related("category").prefetch_related(_active_versions_prefetch()).order_by("code")


def category_list() -> QuerySet:
    return Category.objects.order_by("code")


def template_version_list(*, template: Template, language: str | None = None) -> QuerySet:
    queryset = TemplateVersion.objects.filter(template=template).select_related("template")
    return TemplateVersionFilter({"language": language}, queryset=queryset).qs.order_by("language", "-version")


def template_version_get(*, template: Template, language: str, version: int) -> TemplateVersion:
    found = TemplateVersion.objects.filter(template=template, language=language, version=version).first()
    if found is None:
        raise VersionNotFound(template.code, language, version)
    found.template = template
    return found


def template_with_version_get(*, code: str, language: str | None = None, version: int | None = None) -> Template:
    """A live template with ``selected_version``: its active version (or ``version``) in the
    best available language for ``language`` (default: the template's own), from the database;
    ``requested_language`` and ``language`` (the one used) set on it too."""
    template = template_get(code=code)
    index = active_index_of(template)
    requested = language or template.default_language
    used = language_resolve(index=index, requested=requested)
    number = version or index.active[used]
    template.selected_version = template_version_get(template=template, language=used, version=number)
    template.requested_language = requested
    template.language = used
    return template


def active_languages(template: Template) -> dict[str, int]:
    """``{language: active version}`` of a template fetched by ``template_get``/``template_list``."""
    return {version.language: version.version for version in sorted(template.active_versions, key=_by_language)}


def _by_language(version: TemplateVersion) -> str:
    return version.language


def active_index_of(template: Template) -> ActiveIndex:
    return ActiveIndex(
        template_id=str(template.id),
        code=template.code,
        channel=template.channel,
        default_language=template.default_language,
        active=active_languages(template),
    )


def template_active_index(*, code: str) -> ActiveIndex:
    """The active index of a live template code, from Redis when cached."""
    cached = caching.active_index_get(code)
    if cached is not None:
        return ActiveIndex(**cached)
    index = active_index_of(template_get(code=code))
    caching.active_index_set(code, index.as_dict())
    return index


def language_resolve(*, index: ActiveIndex, requested: str) -> str:
    """The first of ``pt-BR -> pt -> default`` that has an active version."""
    for language in fallback_chain(requested, index.default_language):
        if language in index.active:
            return language
    # Only reachable if the default language lost its versions; any active language beats none.
    if index.active:
        return next(iter(index.active))
    raise TemplateNotFound(index.code)


def version_snapshot_get(*, index: ActiveIndex, language: str, version: int) -> VersionSnapshot:
    """A compiled immutable version: process LRU, then Redis, then the database."""
    key = (index.template_id, language, version)
    snapshot = caching.compiled_versions.get(key)
    if snapshot is not None:
        return snapshot
    content = caching.version_get(*key)
    if content is None:
        row = TemplateVersion.objects.filter(template_id=index.template_id, language=language, version=version).first()
        if row is None:
            raise VersionNotFound(index.code, language, version)
        content = {field: getattr(row, field) for field in _channel_fields(index.channel)}
        caching.version_set(*key, content)
    snapshot = VersionSnapshot(
        template_id=index.template_id,
        channel=index.channel,
        language=language,
        version=version,
        content=content,
        compiled=compile_version_content(content),
    )
    caching.compiled_versions.put(key, snapshot)
    return snapshot


@dataclass(frozen=True)
class VersionSelection:
    """The version a request for (code, language[, version]) gets, after the language fallback."""

    index: ActiveIndex
    requested_language: str
    snapshot: VersionSnapshot


def language_normalize(raw, *, field: str = "language") -> str:
    """The normalised tag, or InvalidTemplateInput (400) naming ``field``."""
    try:
        return normalize_language(raw if isinstance(raw, str) else "")
    except InvalidLanguage as exc:
        raise InvalidTemplateInput({field: [str(exc)]}) from exc


def version_select(*, code: str, language: str | None = None, version: int | None = None) -> VersionSelection:
    """The active version (or ``version``) of ``code`` in the best available language.

    Reads only caches on the hot path: the active index in Redis, the compiled version in
    the process LRU (docs/template_service.md, "Caching"). The substitute endpoint renders
    the selection; the active-version endpoint hands it to the consumers, which render it
    themselves with the same renderer.
    """
    if not CODE_RE.match(code):
        raise TemplateNotFound(code)
    index = template_active_index(code=code)
    requested = language_normalize(language) if language else index.default_language
    used = language_resolve(index=index, requested=requested)
    number = version if version is not None else index.active[used]
    snapshot = version_snapshot_get(index=index, language=used, version=number)
    return VersionSelection(index=index, requested_language=requested, snapshot=snapshot)


def _channel_fields(channel: str) -> tuple[str, ...]:
    return (*CHANNEL_FIELDS[channel], "data") if channel == Channel.PUSH else CHANNEL_FIELDS[channel]


def template_stats() -> dict:
    live = Template.objects.filter(is_deleted=False)
    by_channel = dict(live.values_list("channel").annotate(total=Count("id")).order_by())
    versions = TemplateVersion.objects.filter(template__is_deleted=False).aggregate(
        total=Count("id"), active=Count("id", filter=Q(is_active=True))
    )
    languages = dict(
        TemplateVersion.objects.filter(template__is_deleted=False, is_active=True)
        .values_list("language")
        .annotate(total=Count("id"))
        .order_by()
    )
    return {
        "templates": {
            "total": sum(by_channel.values()),
            "by_channel": {channel: by_channel.get(channel, 0) for channel in Channel.values},
            "deleted": Template.objects.filter(is_deleted=True).count(),
        },
        "versions": {"total": versions["total"], "active": versions["active"]},
        "active_versions_by_language": languages,
    }
