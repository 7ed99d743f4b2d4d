"""``PushConsumer``: reads ``push.queue`` and hands batches of messages to the delivery service.

The consumer base (notification_common.rabbitmq.BaseConsumer) owns acks, retries through the
delay queues and dead letters; this class parses messages, calls
:func:`pushes.services.push_batch_deliver`; the base beats the heartbeat the health check
reads (``heartbeat_key``, notification_common.heartbeat).
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from django.conf import settings
from django.db import close_old_connections

from notification_common.circuit import CircuitBreaker
from notification_common.conf import common_settings
from notification_common.rabbitmq import (
    PUSH_QUEUE,
    BaseConsumer,
    BlockingDependency,
    ConsumedMessage,
    MalformedMessage,
    open_circuit_of,
)
from notification_common.status_reports import STATUS_FAILED, StatusReporter
from notification_common.template_versions import template_service_breaker
from pushes.clients import DeviceDeactivator, TemplateRenderer
from pushes.constants import HEARTBEAT_KEY
from pushes.queue_messages import PushRequest, parse_push_message
from pushes.services import (
    DeliveryDependencies,
    push_batch_deliver,
    push_deactivations_mark_done,
    push_mark_failed,
    push_reports_mark_sent,
    push_unsent_followups_requeue,
)
from pushes.transport import PushService

logger = logging.getLogger(__name__)


class PushConsumer(BaseConsumer):
    queue = PUSH_QUEUE
    # Beaten by the base class's loop (notification_common.heartbeat), busy, idle or paused; a
    # Redis key rather than a file, so the HTTP service's health check, stats and /metrics read it.
    heartbeat_key = HEARTBEAT_KEY

    def __init__(self, url: str | None = None, *, deps: DeliveryDependencies, **kwargs):
        super().__init__(url, **kwargs)
        self.deps = deps

    def handle_batch(self, messages: list[ConsumedMessage]) -> list[Exception | None]:
        results: list[Exception | None] = [None] * len(messages)
        requests: list[PushRequest] = []
        positions: list[int] = []
        for index, message in enumerate(messages):
            try:
                request = parse_push_message(
                    message.body, attempt=message.attempt, final_attempt=self.is_final_attempt(message)
                )
            except MalformedMessage as exc:
                results[index] = exc
                self._report_malformed(message, exc)
                continue
            if not request.trace_id and message.request_id:
                request = replace(request, trace_id=message.request_id[:128])
            requests.append(request)
            positions.append(index)
        if requests:
            close_old_connections()  # a long-running worker must notice a dropped DB connection
            for position, result in zip(positions, push_batch_deliver(requests=requests, deps=self.deps), strict=True):
                results[position] = result
        return results

    def _report_malformed(self, message: ConsumedMessage, error: MalformedMessage) -> None:
        """A malformed message that still names its notification is reported failed, unless the
        notification was delivered or is being sent (final states never go back)."""
        notification_id = message.body.get("notification_id") if isinstance(message.body, dict) else None
        if self.deps.reporter is None or not isinstance(notification_id, str):
            return
        try:
            uuid.UUID(notification_id)
        except ValueError:
            return
        reason = f"malformed message: {error.reason}"[:500]
        if not push_mark_failed(notification_id=notification_id, failure_reason=reason):
            return
        self.deps.reporter.report(notification_id, STATUS_FAILED, error=reason)

    def blocking_dependency(self) -> BlockingDependency | None:
        # FCM and the template service: while either circuit is open no push can go out, so
        # the messages wait in the queue instead of spending their retries.
        return open_circuit_of(self.deps.sender.breaker, template_service_breaker(self.deps.renderer))

    def close(self) -> None:
        """Send what is still queued (reports, deactivations), then release the FCM app."""
        if self.deps.reporter is not None:
            self.deps.reporter.stop(timeout=5.0)
        if self.deps.deactivator is not None:
            self.deps.deactivator.stop(timeout=5.0)
        if self.deps.render_pool is not None:
            self.deps.render_pool.shutdown(wait=True)
        self.deps.sender.close()


def build_push_consumer(
    *,
    url: str | None = None,
    batch_size: int | None = None,
    prefetch_count: int | None = None,
    max_attempts: int | None = None,
    retry_budget_seconds: float | None = None,
    retry_base_seconds: float | None = None,
    retry_max_seconds: float | None = None,
    service_account_path: str | None = None,
    fcm_endpoint: str | None = None,
    name: str | None = None,
) -> PushConsumer:
    """A consumer wired from settings; arguments override them (command options, tests)."""
    push = settings.PUSH_SERVICE
    sender = PushService(
        service_account_path=service_account_path or push["FIREBASE_SERVICE_ACCOUNT_PATH"],
        endpoint=fcm_endpoint or push["FCM_ENDPOINT"],
        http_timeout=push["FCM_HTTP_TIMEOUT"],
        concurrency=push["FCM_SEND_CONCURRENCY"],
        breaker=CircuitBreaker(
            "fcm",
            failure_threshold=push["FCM_CIRCUIT_FAILURE_THRESHOLD"],
            reset_seconds=push["FCM_CIRCUIT_RESET_SECONDS"],
        ),
    )
    deps = DeliveryDependencies(
        sender=sender,
        renderer=TemplateRenderer(cache_size=push["RENDER_CACHE_SIZE"]),
        reporter=StatusReporter("push", on_sent=push_reports_mark_sent),
        deactivator=DeviceDeactivator(on_done=push_deactivations_mark_done),
        render_pool=ThreadPoolExecutor(max_workers=push["RENDER_CONCURRENCY"], thread_name_prefix="render"),
    )
    return PushConsumer(
        url or common_settings.RABBITMQ_URL,
        deps=deps,
        batch_size=batch_size or push["CONSUMER_BATCH_SIZE"],
        prefetch_count=prefetch_count or push["CONSUMER_PREFETCH"],
        max_attempts=max_attempts or push["MAX_ATTEMPTS"],
        retry_budget_seconds=retry_budget_seconds if retry_budget_seconds is not None else push["RETRY_BUDGET_SECONDS"],
        retry_base_seconds=retry_base_seconds if retry_base_seconds is not None else push["RETRY_BASE_SECONDS"],
        retry_max_seconds=retry_max_seconds or push["RETRY_MAX_SECONDS"],
        name=name,
    )


def start_push_consumer(consumer: PushConsumer) -> tuple[int, int]:
    """Before consuming: fetch the FCM token once and queue follow-ups left by a previous run."""
    consumer.deps.sender.warm_up()
    requeued = push_unsent_followups_requeue(deps=consumer.deps)
    if any(requeued):
        logger.info("re-queued unsent status reports and deactivations", extra={"counts": requeued})
    consumer.heartbeat.beat(consumer.name, force=True)
    return requeued
