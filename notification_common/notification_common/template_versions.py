"""The consumers' template client: fetch a template's active version, render it locally.

Versions are immutable, so a compiled version is kept in an LRU without expiry; only the
answer to "which version is active for (code, language)" expires, after
``TEMPLATE_ACTIVE_VERSION_TTL_SECONDS``, which bounds how long an activation or a rollback
takes to reach the emails and pushes. A personalised message therefore costs no HTTP call:
one fetch per (code, language) per TTL per process. The template service stays the owner of
the language fallback and of which version is active (docs/template_service.md, "Local
rendering"); rendering uses the same pure renderer as its substitute endpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote

from notification_common.conf import common_settings
from notification_common.exceptions import DependencyUnavailable
from notification_common.http_client import envelope_data
from notification_common.languages import InvalidLanguage, normalize_language
from notification_common.lru import LocalLRU
from notification_common.rendering import (
    CHANNEL_FIELDS,
    CompiledContent,
    ContentSyntaxError,
    MissingVariablesError,
    compile_version_content,
    render_channel_fields,
)

logger = logging.getLogger(__name__)

ACTIVE_VERSION_PATH = "/api/v1/templates/{code}/active/"

# Error codes, the same words the consumers already record as failure reasons.
TEMPLATE_NOT_FOUND = "template_not_found"
MISSING_VARIABLES = "missing_variables"
TEMPLATE_INVALID = "template_invalid"
TEMPLATE_SERVICE_UNAVAILABLE = "template_service_unavailable"


class TemplateRenderError(Exception):
    """Why a render failed; ``permanent`` says whether trying again later can help."""

    def __init__(self, code: str, detail: str, *, permanent: bool, retry_after: float | None = None, missing=()):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.permanent = permanent
        self.retry_after = retry_after
        self.missing = list(missing)


@dataclass(frozen=True)
class TemplateVersion:
    """One immutable version of a template in one language, compiled."""

    template_id: str
    code: str
    channel: str
    language: str
    version: int
    compiled: CompiledContent


@dataclass(frozen=True)
class _Active:
    expires_at: float
    key: tuple[str, str, int]  # (template id, language, version): the compiled LRU's key
    requested_language: str


class TemplateVersions:
    """Thread-safe; one per consumer process (the email and push consumers each hold one).

    ``render(code, language, variables)`` answers what ``POST /templates/substitute/``
    would, without calling it. ``fetches`` counts the HTTP requests made.
    """

    def __init__(
        self,
        *,
        client=None,
        ttl_seconds: float | None = None,
        cache_size: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._client = client
        self.ttl_seconds = (
            common_settings.TEMPLATE_ACTIVE_VERSION_TTL_SECONDS if ttl_seconds is None else float(ttl_seconds)
        )
        self.cache_size = max(1, cache_size)
        self._clock = clock
        self._lock = threading.Lock()
        self._active: dict[tuple[str, str, int | None], _Active] = {}
        self._compiled = LocalLRU(maxsize=self.cache_size)  # (template id, language, version) -> TemplateVersion
        # One fetch per selection at a time: a burst of threads after the TTL ends makes one call.
        self._fetching: dict[tuple[str, str, int | None], threading.Lock] = {}
        self.fetches = 0

    @property
    def client(self):
        if self._client is not None:
            return self._client
        from notification_common.service_clients import template_client

        return template_client()

    # ------------------------------------------------------------------ public
    def get(self, code: str, language: str | None = None, *, version: int | None = None) -> tuple[TemplateVersion, str]:
        """``(version, requested language)``: the active version (or ``version``) after fallback.

        Raises TemplateRenderError: permanent for an unknown template or version or a bad
        language tag, transient when the template service cannot answer.
        """
        selection = (code, self._language(language), version)
        found = self._cached(selection)
        if found is not None:
            return found
        with self._fetch_lock(selection):
            found = self._cached(selection)  # another thread may have fetched it meanwhile
            if found is not None:
                return found
            return self._fetch(selection)

    def render(
        self,
        code: str,
        language: str | None,
        variables: Mapping,
        *,
        version: int | None = None,
        channel: str | None = None,
    ) -> dict:
        """The substitute endpoint's answer for these arguments, rendered here.

        ``{template_code, channel, language, requested_language, version, <channel fields>}``;
        ``channel`` (if given) must be the template's, else a permanent ``template_invalid``.
        """
        found, requested = self.get(code, language, version=version)
        return render_version(found, variables, requested_language=requested, channel=channel)

    def prefetch(self, selections: Iterable[tuple[str, str | None]], *, concurrency: int = 4) -> None:
        """Fetch the uncached (code, language) pairs, ``concurrency`` at a time; errors are left
        for ``get``/``render`` to raise per message."""
        missing = []
        for code, language in dict.fromkeys(selections):
            try:
                if self._cached((code, self._language(language), None)) is None:
                    missing.append((code, language))
            except TemplateRenderError:
                continue
        if len(missing) < 2 or concurrency < 2:
            return
        with ThreadPoolExecutor(max_workers=min(concurrency, len(missing)), thread_name_prefix="template") as pool:
            for future in [pool.submit(self._prefetch_one, *pair) for pair in missing]:
                future.result()

    def forget(self, code: str) -> None:
        """Drop every cached answer about ``code`` (a 404 told us it went away)."""
        with self._lock:
            for selection in [s for s in self._active if s[0] == code]:
                del self._active[selection]
        self._compiled.discard_where(lambda found: found.code == code)

    def clear(self) -> None:
        with self._lock:
            self._active.clear()
            self._compiled.clear()

    # ------------------------------------------------------------------ caches
    @staticmethod
    def _language(language: str | None) -> str:
        if not language:
            return ""  # the template's default language
        try:
            return normalize_language(language)
        except InvalidLanguage as exc:
            raise TemplateRenderError(TEMPLATE_INVALID, str(exc), permanent=True) from exc

    def _cached(self, selection) -> tuple[TemplateVersion, str] | None:
        with self._lock:
            active = self._active.get(selection)
            if active is None:
                return None
            if self._clock() >= active.expires_at:
                del self._active[selection]
                return None
        found = self._compiled.get(active.key)
        return None if found is None else (found, active.requested_language)

    def _remember(self, selection, found: TemplateVersion, requested: str) -> None:
        key = (found.template_id, found.language, found.version)
        self._compiled.put(key, found)
        with self._lock:
            self._active[selection] = _Active(self._clock() + self.ttl_seconds, key, requested)

    def _fetch_lock(self, selection) -> threading.Lock:
        with self._lock:
            lock = self._fetching.get(selection)
            if lock is None:
                if len(self._fetching) > 4 * self.cache_size:
                    self._fetching.clear()  # bounded: a lock only saves a duplicate fetch
                lock = self._fetching[selection] = threading.Lock()
            return lock

    def _prefetch_one(self, code: str, language: str | None) -> None:
        try:
            self.get(code, language)
        except TemplateRenderError:
            pass

    # ------------------------------------------------------------------ the call
    def _fetch(self, selection) -> tuple[TemplateVersion, str]:
        code, language, version = selection
        if not code:
            raise TemplateRenderError(TEMPLATE_NOT_FOUND, "no template code", permanent=True)
        params = {}
        if language:
            params["language"] = language
        if version is not None:
            params["version"] = version
        with self._lock:
            self.fetches += 1
        try:
            response = self.client.get(ACTIVE_VERSION_PATH.format(code=quote(code, safe="")), params=params)
        except DependencyUnavailable as exc:
            raise TemplateRenderError(
                TEMPLATE_SERVICE_UNAVAILABLE, exc.message, permanent=False, retry_after=exc.retry_after
            ) from exc
        data = envelope_data(response)
        if response.status_code == 200 and isinstance(data, dict):
            found, requested = self._version_from(selection, data)
            self._remember(selection, found, requested)
            return found, requested
        error, message = _error_of(response)
        if response.status_code == 404:
            self.forget(code)  # whatever we knew of it is gone: ask afresh next time
            where = f" version {version}" if version is not None else ""
            raise TemplateRenderError(
                TEMPLATE_NOT_FOUND, f"template {code!r}{where} ({language or 'default'}) does not exist", permanent=True
            )
        if response.status_code == 400:
            raise TemplateRenderError(TEMPLATE_INVALID, f"HTTP 400 {error or ''} {message}".strip(), permanent=True)
        # 401/403 (our key refused), 429 and the like: a configuration or load problem that
        # can be fixed while the message waits in a delay queue.
        raise TemplateRenderError(
            TEMPLATE_SERVICE_UNAVAILABLE,
            f"HTTP {response.status_code} {error or ''} {message}".strip(),
            permanent=False,
            retry_after=_retry_after(response),
        )

    @staticmethod
    def _version_from(selection, data: dict) -> tuple[TemplateVersion, str]:
        code = selection[0]
        channel, number, used = data.get("channel"), data.get("version"), data.get("language")
        if (
            channel not in CHANNEL_FIELDS
            or not isinstance(number, int)
            or isinstance(number, bool)
            or not isinstance(used, str)
        ):
            raise TemplateRenderError(
                TEMPLATE_SERVICE_UNAVAILABLE, f"unexpected answer for template {code!r}", permanent=False
            )
        content = {field: str(data.get(field) or "") for field in CHANNEL_FIELDS[channel]}
        if channel == "push":
            raw = data.get("data")
            content["data"] = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        try:
            compiled = compile_version_content(content)
        except ContentSyntaxError as exc:  # the template service checks versions when they are saved
            raise TemplateRenderError(TEMPLATE_INVALID, f"template {code!r}: {exc}", permanent=True) from exc
        found = TemplateVersion(
            template_id=str(data.get("template_id") or code),
            code=code,
            channel=channel,
            language=used,
            version=number,
            compiled=compiled,
        )
        return found, str(data.get("requested_language") or used)


def template_service_breaker(holder):
    """The circuit breaker of the template service client behind ``holder`` (a consumer's
    renderer adapter or a :class:`TemplateVersions`), or None if it has none: what a
    consumer's ``blocking_dependency`` pauses on."""
    source = getattr(holder, "versions", holder)
    return getattr(getattr(source, "client", None), "breaker", None)


def render_version(
    found: TemplateVersion, variables: Mapping, *, requested_language: str, channel: str | None = None
) -> dict:
    """Render a fetched version as the substitute endpoint would; TemplateRenderError if not."""
    if channel is not None and found.channel != channel:
        raise TemplateRenderError(
            TEMPLATE_INVALID,
            f"template {found.code!r} is a {found.channel!r} template, not a {channel!r} one",
            permanent=True,
        )
    try:
        fields = render_channel_fields(found.channel, found.compiled, variables)
    except MissingVariablesError as exc:
        raise TemplateRenderError(
            MISSING_VARIABLES, ", ".join(exc.missing), permanent=True, missing=exc.missing
        ) from exc
    return {
        "template_code": found.code,
        "channel": found.channel,
        "language": found.language,
        "requested_language": requested_language,
        "version": found.version,
        **fields,
    }


def _error_of(response) -> tuple[str | None, str]:
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200]
    if not isinstance(body, dict):
        return None, ""
    return body.get("error"), str(body.get("message") or "")[:200]


def _retry_after(response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return float(value) if value else None
    except ValueError:
        return None
