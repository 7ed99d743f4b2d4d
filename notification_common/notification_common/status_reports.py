"""Delivery status reports from the workers to the user service, off the delivery path.

Workers call ``reporter.report(...)`` and move on; a background thread sends the reports
in batches to ``POST /api/v1/{channel}/status/``. A report counts as sent only when the
user service answered 2xx and, per report, stored it (or ignored it as a repeat or a stale
status). Everything else (401/403 from a revoked or mistyped key, 429, 5xx, timeouts, no
connection, an open circuit) keeps it pending, retried with capped backoff until it lands.
A report the user service rejects as invalid is logged and counted, never marked sent.
``on_sent`` lets a worker mark its rows as reported, so reports still unsent when a
process dies are sent again at the next start (``StatusReport`` rows are plain data; the
worker owns what "reported" means). The backlog (pending count, age of the oldest) is
published to Redis for the HTTP process's health and /metrics (docs/operations.md, "Outages");
status_report_backlog.py reads it there. One module (about 370 lines) on purpose: the sender
thread, its retry rules and the re-send at start are one mechanism.
"""

import json
import logging
import os
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from notification_common.circuit import CircuitOpenError
from notification_common.exceptions import DependencyUnavailable
from notification_common.status_report_backlog import BACKLOG_KEY_PREFIX

logger = logging.getLogger(__name__)

STATUS_DELIVERED = "delivered"
STATUS_PENDING = "pending"
STATUS_FAILED = "failed"
STATUSES = (STATUS_PENDING, STATUS_DELIVERED, STATUS_FAILED)

# The user service's per-report answer (users.constants.StatusOutcome): only this one means "not stored".
OUTCOME_REJECTED = "rejected"
# A Retry-After longer than this is not waited out in one go (the report is tried again sooner).
MAX_RETRY_AFTER_SECONDS = 600.0


@dataclass
class StatusReport:
    notification_id: str
    status: str
    user_id: str | None = None
    error: str | None = None
    attempt: int | None = None
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    metadata: dict = field(default_factory=dict)
    # When the reporter took it (its clock); not sent. The age of the oldest pending report.
    queued_at: float | None = field(default=None, repr=False, compare=False)

    def payload(self) -> dict:
        body = asdict(self)
        body.pop("queued_at")
        return body


@dataclass
class _Outcome:
    sent: list[StatusReport] = field(default_factory=list)
    rejected: list[tuple[StatusReport, object]] = field(default_factory=list)
    retry: list[StatusReport] = field(default_factory=list)
    retry_after: float | None = None


class StatusReporter:
    """Batches reports to the user service in a daemon thread; never blocks the caller."""

    def __init__(
        self,
        channel: str,
        *,
        client=None,
        batch_size: int = 100,
        flush_interval: float = 0.2,
        linger: float | None = None,
        max_backoff: float = 60.0,
        max_pending: int = 100_000,
        on_sent: Callable[[list[StatusReport]], None] | None = None,
        on_rejected: Callable[[list[StatusReport]], None] | None = None,
        publish_backlog_every: float | None = 5.0,
        clock: Callable[[], float] = time.time,
    ):
        if channel not in ("email", "push"):
            raise ValueError("channel must be 'email' or 'push'")
        self.channel = channel
        self.path = f"/api/v1/{channel}/status/"
        self._client = client
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        if linger is None:
            from notification_common.conf import common_settings

            linger = common_settings.STATUS_REPORT_LINGER_SECONDS
        self.linger = max(0.0, float(linger))
        self.max_backoff = max_backoff
        self.on_sent = on_sent
        self.on_rejected = on_rejected
        self.publish_backlog_every = publish_backlog_every
        self._clock = clock
        self._queue: queue.Queue[StatusReport] = queue.Queue(maxsize=max_pending)
        self._retry: list[StatusReport] = []
        self._in_flight: list[StatusReport] = []
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._published_at = 0.0
        self._backlog_key = f"{BACKLOG_KEY_PREFIX}:{channel}:{socket.gethostname()}:{os.getpid()}"
        self.sent = 0
        self.rejected = 0
        self.dropped = 0

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
        item.queued_at = self._clock()
        self._idle.clear()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            # The rows stay unreported in the worker's database and are re-sent at start.
            self.dropped += 1
            logger.error("status report queue full; dropping report", extra={"notification_id": notification_id})
        self.start()

    def pending(self) -> int:
        return self._queue.qsize() + len(self._retry) + len(self._in_flight)

    def backlog(self) -> dict:
        """Reports not yet acknowledged by the user service: how many, and how long the oldest waits."""
        oldest = [r.queued_at for r in (*self._retry, *self._in_flight) if r.queued_at is not None]
        with self._queue.mutex:
            if self._queue.queue and self._queue.queue[0].queued_at is not None:
                oldest.append(self._queue.queue[0].queued_at)
        since = min(oldest) if oldest else None
        return {
            "pending": self.pending(),
            "oldest_pending_since": since,
            "oldest_pending_seconds": round(max(0.0, self._clock() - since), 3) if since is not None else 0.0,
            "sent": self.sent,
            "rejected": self.rejected,
            "dropped": self.dropped,
        }

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
        self._publish_backlog(force=True)
        if self.pending():
            logger.warning(
                "stopping with %d status reports not acknowledged; they are re-sent at the next start",
                self.pending(),
            )

    def _take_batch(self) -> list[StatusReport]:
        """Reports to retry first, then what is queued; once one is in hand, more are awaited
        for up to ``linger`` seconds (or until ``batch_size``), so a steady trickle goes out
        in calls of many reports instead of one call each."""
        batch = self._retry[: self.batch_size]
        self._retry = self._retry[self.batch_size :]
        self._in_flight = batch  # counted by pending() while the batch fills
        try:
            if not batch:
                batch.append(self._queue.get(timeout=self.flush_interval))
            deadline = time.monotonic() + self.linger
            while len(batch) < self.batch_size:
                remaining = deadline - time.monotonic()
                if remaining > 0 and not self._stop.is_set():
                    batch.append(self._queue.get(timeout=remaining))
                else:
                    batch.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return batch

    # ------------------------------------------------------------------ one call
    def _send(self, batch: list[StatusReport]) -> _Outcome:
        try:
            response = self.client.post(self.path, json=[r.payload() for r in batch], retry=True)
        except DependencyUnavailable as exc:
            logger.warning("status reports not sent; will retry", extra={"error": str(exc), "count": len(batch)})
            circuit = exc.__cause__ if isinstance(exc.__cause__, CircuitOpenError) else None
            return _Outcome(retry=list(batch), retry_after=circuit.retry_in if circuit else None)
        status = response.status_code
        results = _per_report_results(response)
        if results is not None and (200 <= status < 300 or status == 400):
            return self._outcome_of(batch, results)
        if 200 <= status < 300:
            return _Outcome(sent=list(batch))
        if status in (400, 413) and len(batch) > 1:
            # The batch as a whole was refused (too big, not a list it could read): send the
            # halves apart, so one bad report cannot hold back the others.
            middle = len(batch) // 2
            first, second = self._send(batch[:middle]), self._send(batch[middle:])
            return _Outcome(
                sent=first.sent + second.sent,
                rejected=first.rejected + second.rejected,
                retry=first.retry + second.retry,
                retry_after=max(first.retry_after or 0, second.retry_after or 0) or None,
            )
        if status in (400, 413):
            return _Outcome(rejected=[(batch[0], _body_excerpt(response))])  # this one report is the problem
        # 401/403 (a revoked or mistyped key), 404 (a wrong URL), 429 and every other answer
        # can get better once someone fixes it: the reports wait, loudly.
        logger.error(
            "user service refused status reports; keeping them pending",
            extra={"status": status, "body": response.text[:500], "count": len(batch)},
        )
        return _Outcome(retry=list(batch), retry_after=_retry_after(response))

    def _outcome_of(self, batch: list[StatusReport], results: list) -> _Outcome:
        outcome = _Outcome()
        by_index = {r.get("index"): r for r in results if isinstance(r, dict)}
        for index, report in enumerate(batch):
            result = by_index.get(index)
            if result is None:
                outcome.retry.append(report)  # not answered for: it is not known to be stored
            elif result.get("outcome") == OUTCOME_REJECTED:
                outcome.rejected.append((report, result.get("errors") or result.get("error")))
            else:
                outcome.sent.append(report)
        return outcome

    # ------------------------------------------------------------------ the thread
    def _deliver(self, batch: list[StatusReport]) -> _Outcome:
        self._in_flight = batch
        try:
            outcome = self._send(batch)
        except Exception:  # noqa: BLE001 - a bug here must not lose reports or kill the thread
            logger.exception("sending status reports failed unexpectedly; will retry")
            outcome = _Outcome(retry=list(batch))
        self._retry = outcome.retry + self._retry
        self._in_flight = []
        return outcome

    def _settle(self, outcome: _Outcome) -> None:
        if outcome.sent:
            self.sent += len(outcome.sent)
            if self.on_sent:
                try:
                    self.on_sent(outcome.sent)
                except Exception:
                    logger.exception("on_sent callback failed")
        if outcome.rejected:
            self.rejected += len(outcome.rejected)
            for report, errors in outcome.rejected:
                logger.error(
                    "user service rejected a status report; not marked reported",
                    extra={
                        "notification_id": report.notification_id,
                        "status": report.status,
                        "errors": json.dumps(errors, default=str)[:500],
                    },
                )
            if self.on_rejected:
                try:
                    self.on_rejected([report for report, _ in outcome.rejected])
                except Exception:
                    logger.exception("on_rejected callback failed")

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            self._publish_backlog()
            batch = self._take_batch()
            if not batch:
                if self._queue.empty() and not self._retry:
                    self._idle.set()
                continue
            self._idle.clear()
            outcome = self._deliver(batch)
            self._settle(outcome)
            if outcome.retry:
                wait = backoff * random.uniform(0.5, 1.0)
                if outcome.retry_after:
                    wait = max(wait, min(outcome.retry_after, MAX_RETRY_AFTER_SECONDS))
                backoff = min(backoff * 2, self.max_backoff)
                self._publish_backlog(force=True)
                self._stop.wait(wait)
            else:
                backoff = 0.5
            if self._queue.empty() and not self._retry:
                self._idle.set()
                self._publish_backlog(force=True)

    def _publish_backlog(self, *, force: bool = False) -> None:
        """Share the backlog with the HTTP process (health, /metrics) through Redis; best effort."""
        if self.publish_backlog_every is None:
            return
        now = time.monotonic()
        if not force and now - self._published_at < self.publish_backlog_every:
            return
        self._published_at = now
        try:
            from notification_common.redis_client import get_redis

            ttl = max(30, int(self.publish_backlog_every * 6))
            get_redis().set(self._backlog_key, json.dumps(self.backlog()), ex=ttl)
        except Exception:  # noqa: BLE001 - Redis is not on the reporting path
            logger.debug("could not publish the status report backlog", exc_info=True)


def status_reports_resend(reporter: StatusReporter, outcomes: Iterable) -> int:
    """Queue again the final outcomes whose report died with an earlier process (it stopped
    while the user service was down); returns how many. Repeats are harmless: the user
    service keeps one latest status per notification by its ordering rule.

    Each outcome is a worker's row with ``notification_id``, ``status``, ``user_id``,
    ``attempts``, ``last_error`` and ``updated_at`` (and ``sent_at`` when it has one): the
    report carries the time of the outcome, not of the resend.
    """
    count = 0
    for row in outcomes:
        at = getattr(row, "sent_at", None) or row.updated_at
        reporter.report(
            str(row.notification_id),
            row.status,
            user_id=str(row.user_id) if row.user_id else None,
            attempt=row.attempts,
            error=row.last_error or None,
            **({"timestamp": at.isoformat()} if at else {}),
        )
        count += 1
    return count


def _per_report_results(response) -> list | None:
    try:
        body = response.json()
    except ValueError:
        return None
    data = body.get("data") if isinstance(body, dict) else None
    results = data.get("results") if isinstance(data, dict) else None
    return results if isinstance(results, list) else None


def _body_excerpt(response):
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _retry_after(response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
