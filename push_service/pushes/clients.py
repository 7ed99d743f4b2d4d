"""Calls from the push worker to the template and user services (contracts: docs/architecture.md)."""

from __future__ import annotations

import collections
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from notification_common.exceptions import DependencyUnavailable
from notification_common.http_client import envelope_data
from notification_common.service_clients import template_client, user_client

from .constants import (
    ERROR_MISSING_VARIABLES,
    ERROR_TEMPLATE_NOT_FOUND,
    ERROR_TEMPLATE_REJECTED,
    ERROR_TEMPLATE_UNAVAILABLE,
)

logger = logging.getLogger(__name__)

SUBSTITUTE_PATH = "/api/v1/templates/substitute/"
DEACTIVATE_DEVICE_PATH = "/api/v1/devices/deactivate/"


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


def _retry_after(response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


class TemplateRenderer:
    """Renders push templates through the template service's substitute endpoint.

    Renders of a pinned version are cached in-process: versions are immutable, so the same
    (template, language, version, variables) always renders the same push. Without a version
    the template service decides (the active version may change), so those calls are not cached.
    """

    def __init__(self, *, client=None, cache_size: int = 1024):
        self._client = client
        self.cache_size = cache_size
        self._cache: collections.OrderedDict[tuple, RenderedPush] = collections.OrderedDict()
        self._lock = threading.Lock()

    @property
    def client(self):
        return self._client or template_client()

    @staticmethod
    def _key(template_code: str, language: str, version: int, variables: dict) -> tuple:
        return (template_code, language, version, json.dumps(variables, sort_keys=True, default=str))

    def _cached(self, key: tuple) -> RenderedPush | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def _remember(self, key: tuple, rendered: RenderedPush) -> None:
        if self.cache_size <= 0:
            return
        with self._lock:
            self._cache[key] = rendered
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def render(self, *, template_code: str, language: str, variables: dict, version: int | None = None) -> RenderedPush:
        if version is not None:
            hit = self._cached(self._key(template_code, language, version, variables))
            if hit is not None:
                return hit
        request = {"template_code": template_code, "variables": variables}
        if language:
            request["language"] = language
        if version is not None:
            request["version"] = version
        try:
            response = self.client.post(SUBSTITUTE_PATH, json=request, retry=True)
        except DependencyUnavailable as exc:
            raise RenderError(ERROR_TEMPLATE_UNAVAILABLE, exc.message, permanent=False) from exc
        data = envelope_data(response)
        if response.status_code == 404:
            raise RenderError(ERROR_TEMPLATE_NOT_FOUND, f"template {template_code!r} not found", permanent=True)
        if response.status_code == 422:
            missing = (data or {}).get("missing") if isinstance(data, dict) else None
            detail = f"missing variables: {', '.join(map(str, missing))}" if missing else _message(response)
            raise RenderError(ERROR_MISSING_VARIABLES, detail, permanent=True)
        if response.status_code == 400:
            raise RenderError(ERROR_TEMPLATE_REJECTED, _message(response), permanent=True)
        if response.status_code >= 400:
            # 401/403 (our key) and 429 get better with time, not by giving up on the push.
            raise RenderError(
                ERROR_TEMPLATE_UNAVAILABLE,
                f"template service answered {response.status_code}: {_message(response)}",
                permanent=False,
                retry_after=_retry_after(response),
            )
        if not isinstance(data, dict):
            raise RenderError(ERROR_TEMPLATE_UNAVAILABLE, "template service answered without data", permanent=False)
        if data.get("channel") not in (None, "push"):
            raise RenderError(
                ERROR_TEMPLATE_REJECTED, f"template {template_code!r} is a {data['channel']} template", permanent=True
            )
        resolved = data.get("version")
        rendered = RenderedPush(
            title=data.get("title"),
            body=data.get("body"),
            image_url=data.get("image_url"),
            data=data.get("data"),
            version=resolved if isinstance(resolved, int) else None,
            language=str(data.get("language") or language)[:16],
        )
        if rendered.version is not None:
            self._remember(self._key(template_code, language, rendered.version, variables), rendered)
        return rendered


def _message(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("message") or body.get("error") or "")[:200] if isinstance(body, dict) else ""


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
