"""``EmailConsumer``: email.queue -> render -> SMTP -> database -> ack -> status report.

The consumer base (notification_common.rabbitmq.BaseConsumer) owns acks, retries through
the delay queues and dead-lettering; this class turns messages into EmailRequests, calls
``services.email_batch_deliver`` and maps its outcomes onto the base's exceptions.
Overview and failure policy: docs/email_service.md.
"""

from __future__ import annotations

import collections
import logging

from django.conf import settings

from emails.clients import TemplateRenderer
from emails.constants import EMAIL_QUEUE, HEARTBEAT_KEY, STATUS_REPORT_CHANNEL, DeliveryStatus
from emails.queue_messages import EmailRequest, notification_id_of, parse_email_request
from emails.selectors import email_unreported_list
from emails.services import email_batch_deliver, email_mark_failed, email_mark_reported
from emails.transport import EmailService
from notification_common.conf import common_settings
from notification_common.rabbitmq import (
    BaseConsumer,
    BlockingDependency,
    ConsumedMessage,
    MalformedMessage,
    PermanentError,
    TransientError,
    open_circuit_of,
)
from notification_common.status_reports import (
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_PENDING,
    StatusReporter,
    status_reports_resend,
)
from notification_common.template_versions import template_service_breaker

logger = logging.getLogger(__name__)


def _user_id(message: ConsumedMessage) -> str | None:
    value = message.body.get("user_id") if isinstance(message.body, dict) else None
    return value if isinstance(value, str) else None


class EmailConsumer(BaseConsumer):
    queue = EMAIL_QUEUE
    # Beaten by the base class's loop (notification_common.heartbeat); read by health, stats, /metrics.
    heartbeat_key = HEARTBEAT_KEY

    def __init__(
        self,
        url: str | None = None,
        *,
        renderer: TemplateRenderer | None = None,
        sender: EmailService | None = None,
        reporter: StatusReporter | None = None,
        lease_seconds: float | None = None,
        report_flush_seconds: float = 5.0,
        **kwargs,
    ):
        kwargs.setdefault("max_attempts", settings.EMAIL_MAX_ATTEMPTS)
        kwargs.setdefault("retry_budget_seconds", settings.EMAIL_RETRY_BUDGET_SECONDS)
        kwargs.setdefault("retry_base_seconds", settings.EMAIL_RETRY_BASE_SECONDS)
        kwargs.setdefault("retry_max_seconds", settings.EMAIL_RETRY_MAX_SECONDS)
        kwargs.setdefault("prefetch_count", settings.EMAIL_CONSUMER_PREFETCH)
        kwargs.setdefault("batch_size", settings.EMAIL_CONSUMER_BATCH_SIZE)
        super().__init__(url or common_settings.RABBITMQ_URL, **kwargs)
        self.renderer = renderer or TemplateRenderer(
            cache_size=settings.EMAIL_RENDER_CACHE_SIZE,
            concurrency=settings.EMAIL_RENDER_CONCURRENCY,
        )
        self.sender = sender or EmailService.from_settings()
        self.reporter = reporter or StatusReporter(STATUS_REPORT_CHANNEL)
        if self.reporter.on_sent is None:
            self.reporter.on_sent = self._on_reports_sent
        self.lease_seconds = settings.EMAIL_SENDING_LEASE_SECONDS if lease_seconds is None else lease_seconds
        self.report_flush_seconds = report_flush_seconds
        # Filled by the reporter's thread, written to the database by the consumer's thread
        # (one database connection; a lost mark only means one harmless repeated report).
        self._acknowledged_reports: collections.deque[tuple[str, str]] = collections.deque()

    # ------------------------------------------------------------------ lifecycle
    def run(self, *, max_messages: int | None = None, idle_timeout: float | None = None) -> int:
        self.reporter.start()
        self._report_unreported()
        try:
            return super().run(max_messages=max_messages, idle_timeout=idle_timeout)
        finally:
            self.sender.close()
            self.renderer.close()
            self.reporter.flush(timeout=self.report_flush_seconds)
            self._store_acknowledged_reports()

    def on_loop(self) -> None:
        # Called by the base class on every turn of its loop, busy or idle (after its heartbeat).
        self._store_acknowledged_reports()

    def blocking_dependency(self) -> BlockingDependency | None:
        # SMTP and the template service: while either circuit is open no email can go out,
        # so the messages wait in the queue instead of spending their retries.
        return open_circuit_of(self.sender.breaker, template_service_breaker(self.renderer))

    # ------------------------------------------------------------------ messages
    def _request_of(self, message: ConsumedMessage) -> EmailRequest:
        trace_id = message.headers.get("x-request-id")
        if isinstance(trace_id, bytes):
            trace_id = trace_id.decode("utf-8", "replace")
        return parse_email_request(
            message.body,
            default_language=settings.EMAIL_DEFAULT_LANGUAGE,
            trace_id=trace_id if isinstance(trace_id, str) and trace_id else None,
            queue_attempt=message.attempt,
            final_attempt=self.is_final_attempt(message),
        )

    def handle(self, message: ConsumedMessage) -> None:
        [result] = self.handle_batch([message])
        if result is not None:
            raise result

    def handle_batch(self, messages: list[ConsumedMessage]) -> list[Exception | None]:
        results: list[Exception | None] = [None] * len(messages)
        positions: dict[str, int] = {}
        requests: list[EmailRequest] = []
        for index, message in enumerate(messages):
            try:
                request = self._request_of(message)
            except MalformedMessage as exc:
                results[index] = exc
                continue
            if request.notification_id in positions:
                continue  # a second copy in the same batch: the first one decides (acked as done)
            positions[request.notification_id] = index
            requests.append(request)
        if not requests:
            return results
        batch = email_batch_deliver(
            requests=requests, renderer=self.renderer, sender=self.sender, lease_seconds=self.lease_seconds
        )
        for notification_id, failure in batch.outcomes.items():
            if failure is None:
                continue
            error = (
                PermanentError(failure.reason)
                if failure.permanent
                else TransientError(failure.reason, retry_after=failure.retry_after)
            )
            # Chained, so the base class can tell a failure caused by an open circuit (the call
            # was never made: no attempt spent) from a real one.
            error.__cause__ = failure
            results[positions[notification_id]] = error
        for delivery in batch.delivered:
            self.reporter.report(
                str(delivery.notification_id),
                STATUS_DELIVERED,
                user_id=str(delivery.user_id) if delivery.user_id else None,
                attempt=delivery.attempts,
                timestamp=delivery.sent_at.isoformat(),
            )
        return results

    def on_retry(self, message: ConsumedMessage, error: Exception, next_attempt: int, delay_seconds: float) -> None:
        notification_id = notification_id_of(message.body, message.message_id)
        if notification_id is None:
            return
        self.reporter.report(
            notification_id,
            STATUS_PENDING,
            user_id=_user_id(message),
            attempt=message.attempt,
            error=getattr(error, "reason", None) or str(error),
            metadata={"next_attempt": next_attempt, "retry_in_seconds": round(delay_seconds, 3)},
        )

    def on_dead_letter(self, message: ConsumedMessage, reason: str) -> None:
        notification_id = notification_id_of(message.body, message.message_id)
        if notification_id is None:
            logger.warning("dead-lettered a message without a notification id: %s", reason)
            return
        delivery = email_mark_failed(notification_id=notification_id, failure_reason=reason, body=message.body)
        if delivery is None:
            return  # delivered after all (a stale copy): nothing to report as failed
        self.reporter.report(
            notification_id,
            STATUS_FAILED,
            user_id=str(delivery.user_id) if delivery.user_id else _user_id(message),
            attempt=message.attempt,
            error=reason,
        )

    # ------------------------------------------------------------------ status reports
    def _on_reports_sent(self, reports) -> None:
        for report in reports:
            if report.status in DeliveryStatus.FINAL:
                self._acknowledged_reports.append((report.notification_id, report.status))

    def _store_acknowledged_reports(self) -> None:
        if not self._acknowledged_reports:
            return
        reports = []
        while self._acknowledged_reports:
            reports.append(self._acknowledged_reports.popleft())
        try:
            email_mark_reported(reports=reports)
        except Exception:  # noqa: BLE001 - they are simply reported once more at the next start
            logger.warning("could not record %d acknowledged status reports", len(reports), exc_info=True)

    def _report_unreported(self) -> None:
        """Outcomes whose report died with an earlier process are reported again (repeats are harmless)."""
        try:
            deliveries = email_unreported_list()
        except Exception:  # noqa: BLE001 - the database may still be starting; deliveries go on
            logger.warning("could not look for unreported outcomes", exc_info=True)
            return
        status_reports_resend(self.reporter, deliveries)
        if deliveries:
            logger.info("re-sent %d unreported delivery outcomes", len(deliveries))
