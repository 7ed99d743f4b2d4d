"""Rendering through the template service's substitute endpoint, with two in-process caches.

* Renders are cached by (template_code, language used, version, hash of the variables):
  template versions are immutable, so such an entry never goes stale.
* Which version is active for (template_code, requested language) is cached only briefly
  (``EMAIL_TEMPLATE_VERSION_TTL_SECONDS``): activating a new version, or adding a language,
  must reach the emails within seconds, while most messages of a burst still skip the call.
The contract is in docs/architecture.md ("Template service").
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from emails.constants import AttemptStage, FailureReason, reason
from emails.exceptions import DeliveryFailure
from emails.messages import EmailRequest
from notification_common.exceptions import DependencyUnavailable
from notification_common.http_client import envelope_data
from notification_common.request_context import request_id_scope
from notification_common.service_clients import template_client

logger = logging.getLogger(__name__)

SUBSTITUTE_PATH = "/api/v1/templates/substitute/"
TEMPLATE_CHANNEL = "email"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text_body: str
    html_body: str
    language: str
    version: int | None


def variables_digest(variables: dict) -> str:
    canonical = json.dumps(variables, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _render_failure(detail: str, *, code: str, permanent: bool) -> DeliveryFailure:
    return DeliveryFailure(reason(code, detail), permanent=permanent, stage=AttemptStage.RENDER)


class TemplateRenderer:
    """Thread-safe; one per consumer process."""

    def __init__(
        self,
        *,
        client=None,
        version_ttl_seconds: float = 15.0,
        cache_size: int = 10_000,
        concurrency: int = 4,
        clock=time.monotonic,
    ):
        self._client = client
        self.version_ttl_seconds = version_ttl_seconds
        self.cache_size = cache_size
        self.concurrency = max(1, concurrency)
        self._clock = clock
        self._lock = threading.Lock()
        self._versions: dict[tuple[str, str], tuple[float, str, int | None]] = {}
        self._renders: OrderedDict[tuple, RenderedEmail] = OrderedDict()
        self._pool: ThreadPoolExecutor | None = None
        self.calls = 0  # substitute requests made (for tests and the benchmark)

    @property
    def client(self):
        return self._client if self._client is not None else template_client()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # ------------------------------------------------------------------ public
    def render(self, request: EmailRequest) -> RenderedEmail:
        """The rendered email, or DeliveryFailure (permanent or transient)."""
        digest = variables_digest(request.variables)
        cached = self._cached(request.template_code, request.language, digest)
        if cached is not None:
            return cached
        with request_id_scope(request.trace_id):
            return self._fetch(request.template_code, request.language, request.variables, digest)

    def render_many(self, requests: Iterable[EmailRequest]) -> dict[str, RenderedEmail | DeliveryFailure]:
        """Render a batch: ``{notification_id: RenderedEmail | DeliveryFailure}``."""
        return {request.notification_id: outcome for request, outcome in self.render_iter(requests)}

    def render_iter(
        self, requests: Iterable[EmailRequest]
    ) -> Iterator[tuple[EmailRequest, RenderedEmail | DeliveryFailure]]:
        """Yield ``(request, RenderedEmail | DeliveryFailure)`` as soon as each render is ready.

        Cached renders come first; requests with the same template, language and variables
        are rendered once; cache misses are fetched ``concurrency`` at a time, so the caller
        can send the first emails while the template service renders the others.
        """
        groups: dict[tuple[str, str, str], list[EmailRequest]] = {}
        for request in requests:
            key = (request.template_code, request.language, variables_digest(request.variables))
            groups.setdefault(key, []).append(request)
        misses = []
        for key, members in groups.items():
            cached = self._cached(*key)
            if cached is None:
                misses.append((key, members[0]))
                continue
            for request in members:
                yield request, cached
        if len(misses) > 1 and self.concurrency > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="render")
            futures = {self._pool.submit(self._fetch_outcome, miss): miss[0] for miss in misses}
            completed = ((futures[future], future.result()) for future in as_completed(futures))
        else:
            completed = ((miss[0], self._fetch_outcome(miss)) for miss in misses)
        for key, outcome in completed:
            for request in groups[key]:
                yield request, outcome

    # ------------------------------------------------------------------ caches
    def _cached(self, template_code: str, language: str, digest: str) -> RenderedEmail | None:
        with self._lock:
            active = self._versions.get((template_code, language))
            if active is None:
                return None
            expires_at, used_language, version = active
            if self._clock() >= expires_at:
                del self._versions[(template_code, language)]
                return None
            key = (template_code, used_language, version, digest)
            rendered = self._renders.get(key)
            if rendered is not None:
                self._renders.move_to_end(key)
            return rendered

    def _remember(self, template_code: str, language: str, digest: str, rendered: RenderedEmail) -> None:
        with self._lock:
            self._versions[(template_code, language)] = (
                self._clock() + self.version_ttl_seconds,
                rendered.language,
                rendered.version,
            )
            if rendered.version is None:
                return  # no version number: nothing proves the render immutable
            self._renders[(template_code, rendered.language, rendered.version, digest)] = rendered
            while len(self._renders) > self.cache_size:
                self._renders.popitem(last=False)

    def _active_version(self, template_code: str, language: str) -> tuple[str, int | None] | None:
        with self._lock:
            active = self._versions.get((template_code, language))
        if active is None or self._clock() >= active[0]:
            return None
        return active[1], active[2]

    def _forget_version(self, template_code: str, language: str) -> None:
        with self._lock:
            self._versions.pop((template_code, language), None)

    # ------------------------------------------------------------------ the call
    def _fetch_outcome(self, miss: tuple[tuple[str, str, str], EmailRequest]) -> RenderedEmail | DeliveryFailure:
        (template_code, language, digest), request = miss
        try:
            with request_id_scope(request.trace_id):
                return self._fetch(template_code, language, request.variables, digest)
        except DeliveryFailure as failure:
            return failure

    def _fetch(self, template_code: str, language: str, variables: dict, digest: str) -> RenderedEmail:
        active = self._active_version(template_code, language)
        if active is not None and active[1] is not None:
            # The active version is known: ask for exactly that one (same render as cached peers).
            used_language, version = active
            try:
                rendered = self._substitute(template_code, used_language, variables, version)
            except DeliveryFailure as failure:
                if not failure.reason.startswith(FailureReason.TEMPLATE_NOT_FOUND):
                    raise
                self._forget_version(template_code, language)  # the pinned version went away: ask afresh
                rendered = self._substitute(template_code, language, variables, None)
        else:
            rendered = self._substitute(template_code, language, variables, None)
        self._remember(template_code, language, digest, rendered)
        return rendered

    def _substitute(self, template_code: str, language: str, variables: dict, version: int | None) -> RenderedEmail:
        payload = {"template_code": template_code, "language": language, "variables": variables}
        if version is not None:
            payload["version"] = version
        self.calls += 1
        try:
            # Substitution has no side effect, so a retry of the POST is safe.
            response = self.client.post(SUBSTITUTE_PATH, json=payload, retry=True)
        except DependencyUnavailable as exc:
            raise _render_failure(
                exc.message, code=FailureReason.TEMPLATE_SERVICE_UNAVAILABLE, permanent=False
            ) from exc
        data = envelope_data(response)
        if response.status_code == 200 and isinstance(data, dict):
            return self._rendered_from(template_code, language, data)
        error, message = self._error_of(response)
        if response.status_code == 404:
            raise _render_failure(
                f"template {template_code!r} ({language}) does not exist",
                code=FailureReason.TEMPLATE_NOT_FOUND,
                permanent=True,
            )
        if response.status_code == 422 and error == FailureReason.MISSING_VARIABLES:
            missing = data.get("missing") if isinstance(data, dict) else None
            detail = ", ".join(str(name) for name in missing) if isinstance(missing, list) else message
            raise _render_failure(detail or "some variables", code=FailureReason.MISSING_VARIABLES, permanent=True)
        if response.status_code in (400, 422):
            raise _render_failure(
                f"HTTP {response.status_code} {error or ''} {message}".strip(),
                code=FailureReason.TEMPLATE_INVALID,
                permanent=True,
            )
        # 401/403 (our key refused), 429 and the like: a configuration or load problem
        # that can be fixed while the message waits in a delay queue.
        raise _render_failure(
            f"HTTP {response.status_code} {error or ''} {message}".strip(),
            code=FailureReason.TEMPLATE_SERVICE_UNAVAILABLE,
            permanent=False,
        )

    @staticmethod
    def _error_of(response) -> tuple[str | None, str]:
        try:
            body = response.json()
        except ValueError:
            return None, response.text[:200]
        if not isinstance(body, dict):
            return None, ""
        return body.get("error"), str(body.get("message") or "")

    @staticmethod
    def _rendered_from(template_code: str, language: str, data: dict) -> RenderedEmail:
        channel = data.get("channel", TEMPLATE_CHANNEL)
        if channel != TEMPLATE_CHANNEL:
            raise _render_failure(
                f"template {template_code!r} is a {channel!r} template, not an email template",
                code=FailureReason.TEMPLATE_INVALID,
                permanent=True,
            )
        version = data.get("version")
        return RenderedEmail(
            subject=str(data.get("subject") or ""),
            text_body=str(data.get("text_body") or ""),
            html_body=str(data.get("html_body") or ""),
            language=str(data.get("language") or language),
            version=version if isinstance(version, int) and not isinstance(version, bool) else None,
        )
