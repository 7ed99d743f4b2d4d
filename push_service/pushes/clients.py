"""Calls from the push worker to the template and user services (contracts: docs/architecture.md).

Rendering is local: ``TemplateRenderer`` is a thin adapter over the shared template client
(``notification_common.template_versions``: the active version per (code, language) kept
``TEMPLATE_ACTIVE_VERSION_TTL_SECONDS``, compiled versions in an LRU, the platform's one
renderer), so a personalised push costs no HTTP call.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from notification_common.exceptions import DependencyUnavailable
from notification_common.service_clients import user_client
from notification_common.template_versions import TEMPLATE_INVALID, TemplateRenderError, TemplateVersions
from pushes.constants import ERROR_MISSING_VARIABLES, ERROR_TEMPLATE_REJECTED

logger = logging.getLogger(__name__)

DEACTIVATE_DEVICE_PATH = "/api/v1/devices/deactivate/"
TEMPLATE_CHANNEL = "push"


class RenderError(Exception):
    def __init__(self, code: str, message: str, *, permanent: bool, retry_after: float | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class RenderedPush:
    title: object
    body: object
    image_url: object
    data: object
    version: int | None
    language: str


def _render_error(error: TemplateRenderError) -> RenderError:
    if error.code == ERROR_MISSING_VARIABLES:
        return RenderError(error.code, f"missing variables: {', '.join(error.missing)}", permanent=True)
    code = ERROR_TEMPLATE_REJECTED if error.code == TEMPLATE_INVALID else error.code
    return RenderError(code, error.detail, permanent=error.permanent, retry_after=error.retry_after)


class TemplateRenderer:
    """Renders push templates locally from their active (or pinned) version; thread-safe."""

    def __init__(self, *, versions: TemplateVersions | None = None, client=None, cache_size: int = 1024, **options):
        self.versions = versions or TemplateVersions(client=client, cache_size=cache_size, **options)

    @property
    def client(self):
        """The template service client (its circuit breaker pauses the consumer)."""
        return self.versions.client

    def render(self, *, template_code: str, language: str, variables: dict, version: int | None = None) -> RenderedPush:
        try:
            rendered = self.versions.render(
                template_code, language, variables, version=version, channel=TEMPLATE_CHANNEL
            )
        except TemplateRenderError as error:
            raise _render_error(error) from error
        return RenderedPush(
            title=rendered["title"],
            body=rendered["body"],
            image_url=rendered["image_url"],
            data=rendered["data"],
            version=rendered["version"],
            language=rendered["language"][:16],
        )


@dataclass(frozen=True)
class Deactivation:
    token: str
    reason: str
    result_id: object = None


class DeviceDeactivator:
    """Tells the user service to deactivate dead devices, from a background thread.

    Deactivation never blocks a delivery: ``deactivate()`` queues and returns. Unreachable
    user service -> retried with backoff; a 4xx answer is final (logged). ``on_done`` gets
    the result ids the user service accepted, so the worker can mark them (rows not marked
    are queued again when the consumer starts).
    """

    def __init__(
        self,
        *,
        client=None,
        on_done: Callable[[list], None] | None = None,
        max_backoff: float = 30.0,
        max_pending: int = 100_000,
    ):
        self._client = client
        self.on_done = on_done
        self.max_backoff = max_backoff
        self._queue: queue.Queue[Deactivation] = queue.Queue(maxsize=max_pending)
        self._stop = threading.Event()
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.done = 0

    @property
    def client(self):
        return self._client or user_client()

    def start(self) -> DeviceDeactivator:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="device-deactivator", daemon=True)
            self._thread.start()
        return self

    def deactivate(self, token: str, reason: str, result_id=None) -> None:
        with self._busy_lock:
            self._busy += 1
        try:
            self._queue.put_nowait(Deactivation(token, reason, result_id))
        except queue.Full:
            with self._busy_lock:
                self._busy -= 1
            logger.error("deactivation queue full; will be re-sent at next start", extra={"token": token[:16]})
            return
        self.start()

    def pending(self) -> int:
        with self._busy_lock:
            return self._busy

    def flush(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pending() == 0:
                return True
            time.sleep(0.02)
        return False

    def stop(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def _post(self, item: Deactivation) -> bool:
        """True when settled (done, or refused for good); False to retry later."""
        try:
            response = self.client.post(
                DEACTIVATE_DEVICE_PATH, json={"token": item.token, "reason": item.reason}, retry=True
            )
        except DependencyUnavailable as exc:
            logger.warning("device deactivation not sent; will retry", extra={"error": exc.message})
            return False
        if response.status_code == 429:
            return False
        if response.status_code >= 400:
            logger.error(
                "user service refused a device deactivation",
                extra={"status": response.status_code, "body": response.text[:300]},
            )
        return True

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            while not self._stop.is_set() and not self._post(item):
                self._stop.wait(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, self.max_backoff)
            backoff = 0.5
            if self.on_done and item.result_id is not None and not self._stop.is_set():
                try:
                    self.on_done([item.result_id])
                except Exception:
                    logger.exception("on_done callback failed")
            self.done += 1
            with self._busy_lock:
                self._busy -= 1
