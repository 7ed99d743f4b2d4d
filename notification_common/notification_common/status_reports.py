"""Delivery status reports from the workers to the user service, off the delivery path.

Workers call ``reporter.report(...)`` and move on; a background thread sends the reports
in batches to ``POST /api/v1/{channel}/status/`` and retries with backoff while the user
service is unreachable. ``on_sent`` lets a worker mark its rows as reported, so reports
still unsent when a process dies can be sent again at the next start
(``StatusReport`` rows are plain data; the worker owns what "reported" means).
"""

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from notification_common.exceptions import DependencyUnavailable

logger = logging.getLogger(__name__)

STATUS_DELIVERED = "delivered"
STATUS_PENDING = "pending"
STATUS_FAILED = "failed"
STATUSES = (STATUS_PENDING, STATUS_DELIVERED, STATUS_FAILED)


@dataclass
class StatusReport:
    notification_id: str
    status: str
    user_id: str | None = None
    error: str | None = None
    attempt: int | None = None
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    metadata: dict = field(default_factory=dict)


class StatusReporter:
    """Batches reports to the user service in a daemon thread; never blocks the caller."""

    def __init__(
        self,
        channel: str,
        *,
        client=None,
        batch_size: int = 100,
        flush_interval: float = 0.2,
        max_backoff: float = 30.0,
        max_pending: int = 100_000,
        on_sent: Callable[[list[StatusReport]], None] | None = None,
    ):
        if channel not in ("email", "push"):
            raise ValueError("channel must be 'email' or 'push'")
        self.path = f"/api/v1/{channel}/status/"
        self._client = client
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_backoff = max_backoff
        self.on_sent = on_sent
        self._queue: queue.Queue[StatusReport] = queue.Queue(maxsize=max_pending)
        self._retry: list[StatusReport] = []
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self.sent = 0

    @property
    def client(self):
        if self._client is None:
            from notification_common.service_clients import user_client

            self._client = user_client()
        return self._client

    def start(self) -> "StatusReporter":
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="status-reporter", daemon=True)
            self._thread.start()
        return self

    def report(self, notification_id: str, status: str, **fields) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        item = StatusReport(notification_id=str(notification_id), status=status, **fields)
        self._idle.clear()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            # The rows stay unreported in the worker's database and are re-sent at start.
            logger.error("status report queue full; dropping report", extra={"notification_id": notification_id})
        self.start()

    def pending(self) -> int:
        return self._queue.qsize() + len(self._retry)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far was sent (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pending() == 0 and self._idle.is_set():
                return True
            time.sleep(0.02)
        return False

    def stop(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=1.0)

    def _take_batch(self) -> list[StatusReport]:
        batch = self._retry[: self.batch_size]
        self._retry = self._retry[self.batch_size :]
        try:
            if not batch:
                batch.append(self._queue.get(timeout=self.flush_interval))
            while len(batch) < self.batch_size:
                batch.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return batch

    def _send(self, batch: list[StatusReport]) -> bool:
        try:
            response = self.client.post(self.path, json=[asdict(r) for r in batch], retry=True)
        except DependencyUnavailable as exc:
            logger.warning("status reports not sent; will retry", extra={"error": str(exc), "count": len(batch)})
            return False
        if response.status_code >= 400:
            # A 4xx will not get better by retrying: log it and let it go.
            logger.error(
                "user service refused status reports",
                extra={"status": response.status_code, "body": response.text[:500], "count": len(batch)},
            )
        return True

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            batch = self._take_batch()
            if not batch:
                if self._queue.empty() and not self._retry:
                    self._idle.set()
                continue
            self._idle.clear()
            if self._send(batch):
                self.sent += len(batch)
                backoff = 0.5
                if self.on_sent:
                    try:
                        self.on_sent(batch)
                    except Exception:
                        logger.exception("on_sent callback failed")
            else:
                self._retry = batch + self._retry
                self._stop.wait(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, self.max_backoff)
            if self._queue.empty() and not self._retry:
                self._idle.set()
