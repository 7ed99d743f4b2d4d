"""Email rendering: a thin adapter over the shared template client.

``notification_common.template_versions`` fetches a template's active version per (code,
language), keeps that answer ``TEMPLATE_ACTIVE_VERSION_TTL_SECONDS`` and renders locally
with the platform's one renderer, so a personalised email costs no HTTP call. This module
only turns its answers and errors into ``RenderedEmail`` and ``DeliveryFailure``.
The contract is in docs/email_service.md ("Rendering").
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from emails.constants import AttemptStage, reason
from emails.errors import DeliveryFailure
from emails.queue_messages import EmailRequest
from notification_common.request_context import request_id_scope
from notification_common.template_versions import TemplateRenderError, TemplateVersions, render_version

TEMPLATE_CHANNEL = "email"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text_body: str
    html_body: str
    language: str
    version: int | None


def _failure(error: TemplateRenderError) -> DeliveryFailure:
    # The shared client's codes are the email service's failure reasons (emails.constants).
    return DeliveryFailure(reason(error.code, error.detail), permanent=error.permanent, stage=AttemptStage.RENDER)


class TemplateRenderer:
    """Thread-safe; one per consumer process.

    ``cache_size`` bounds the compiled versions kept; ``concurrency`` is how many active
    versions a batch may fetch at once (only on a cold cache or after the TTL).
    """

    def __init__(
        self,
        *,
        versions: TemplateVersions | None = None,
        client=None,
        version_ttl_seconds: float | None = None,
        cache_size: int = 10_000,
        concurrency: int = 4,
        clock=time.monotonic,
    ):
        self.versions = versions or TemplateVersions(
            client=client, ttl_seconds=version_ttl_seconds, cache_size=cache_size, clock=clock
        )
        self.concurrency = max(1, concurrency)

    @property
    def client(self):
        """The template service client (its circuit breaker pauses the consumer)."""
        return self.versions.client

    @property
    def calls(self) -> int:
        """HTTP requests made to the template service (for tests and the benchmark)."""
        return self.versions.fetches

    def close(self) -> None:
        """Nothing to release: kept so the consumer's lifecycle does not depend on the transport."""

    def render(self, request: EmailRequest) -> RenderedEmail:
        """The rendered email, or DeliveryFailure (permanent or transient)."""
        try:
            with request_id_scope(request.trace_id):
                found, requested = self.versions.get(request.template_code, request.language)
            rendered = render_version(found, request.variables, requested_language=requested, channel=TEMPLATE_CHANNEL)
        except TemplateRenderError as error:
            raise _failure(error) from error
        return RenderedEmail(
            subject=rendered["subject"],
            text_body=rendered["text_body"],
            html_body=rendered["html_body"] or "",
            language=rendered["language"],
            version=rendered["version"],
        )

    def render_many(self, requests: Iterable[EmailRequest]) -> dict[str, RenderedEmail | DeliveryFailure]:
        """Render a batch: ``{notification_id: RenderedEmail | DeliveryFailure}``."""
        return {request.notification_id: outcome for request, outcome in self.render_iter(requests)}

    def render_iter(
        self, requests: Iterable[EmailRequest]
    ) -> Iterator[tuple[EmailRequest, RenderedEmail | DeliveryFailure]]:
        """Yield ``(request, RenderedEmail | DeliveryFailure)`` in order.

        The batch's uncached (template, language) pairs are fetched first, ``concurrency``
        at a time; every render after that is local.
        """
        requests = list(requests)
        self.versions.prefetch(
            ((request.template_code, request.language) for request in requests), concurrency=self.concurrency
        )
        for request in requests:
            try:
                yield request, self.render(request)
            except DeliveryFailure as failure:
                yield request, failure
