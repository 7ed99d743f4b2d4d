"""Delivering push notifications: the writes of the push service.

One call of :func:`push_batch_deliver` handles a batch of queue messages:

1. record the notification and one row per device (unique per notification and token);
2. lock the notifications (``SKIP LOCKED``: a notification another worker is sending is
   retried later, never sent twice in parallel), pick the devices still ``pending``;
3. render (stored after the first time, so retries send the same push), validate;
4. send through FCM, record each device's result, commit, then report statuses and queue
   device deactivations.

See docs/push_service.md for the status rules.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from notification_common.rabbitmq import PermanentError, TransientError
from notification_common.request_context import request_id_scope
from notification_common.status_reports import StatusReport, StatusReporter

from .bulk import insert_ignoring_conflicts, update_rows
from .clients import DeviceDeactivator, RenderedPush, RenderError, TemplateRenderer
from .constants import (
    DEACTIVATION_REASON_PREFIX,
    DEVICE_FAILED,
    DEVICE_PENDING,
    DEVICE_SENT,
    ERROR_ATTEMPTS_EXHAUSTED,
    ERROR_CONCURRENT_DELIVERY,
    ERROR_FCM_UNAVAILABLE,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_PENDING,
)
from .fcm import DEACTIVATE, SENT, TRANSIENT, FcmUnavailable, PushService, SendJob, TokenOutcome
from .models import PushDeviceResult, PushNotification
from .payloads import PayloadError, PushPayload, build_payload
from .queue_messages import PushRequest

logger = logging.getLogger(__name__)

# A notification locked by another worker is looked at again after about this long.
CONCURRENT_RETRY_SECONDS = 5.0
DEVICE_UPDATE_FIELDS = [
    "status",
    "error_code",
    "error_message",
    "message_id",
    "attempts",
    "deactivation_requested",
    "updated_at",
]
NOTIFICATION_UPDATE_FIELDS = [
    "status",
    "attempts",
    "last_error",
    "version",
    "language",
    "title",
    "body",
    "image_url",
    "data",
    "rendered_at",
    "delivered_at",
    "updated_at",
]


@dataclass
class DeliveryDependencies:
    """What delivering needs besides the database; built once per consumer process."""

    sender: PushService
    renderer: TemplateRenderer
    reporter: StatusReporter | None = None
    deactivator: DeviceDeactivator | None = None
    render_pool: ThreadPoolExecutor | None = None


@dataclass
class _Work:
    index: int
    request: PushRequest
    notification: PushNotification
    devices: list[PushDeviceResult]  # the devices to send to now
    all_devices: list[PushDeviceResult]  # every device of the notification (same objects)
    previous_status: str
    rendered: RenderedPush | None = None
    payload: PushPayload | None = None
    error: Exception | None = None  # RenderError, PayloadError or FcmUnavailable
    outcomes: list[TokenOutcome] = field(default_factory=list)


# -- entry point -----------------------------------------------------------------------


def push_batch_deliver(*, requests: list[PushRequest], deps: DeliveryDependencies) -> list[Exception | None]:
    """Deliver a batch; one result per request: None (done), TransientError or PermanentError."""
    results: list[Exception | None] = [None] * len(requests)
    unique, copies = _merge_duplicates(requests)
    if not unique:
        return results
    reports: list[tuple] = []
    deactivations: list[PushDeviceResult] = []
    with transaction.atomic():
        push_records_ensure(requests=[request for _, request in unique])
        work = _lock_work(unique, results)
        _render_and_send(work, deps)
        now = timezone.now()
        devices_to_save: list[PushDeviceResult] = []
        for item in work:
            results[item.index] = _settle(item, now, devices_to_save, deactivations, reports)
        update_rows(PushDeviceResult, devices_to_save, DEVICE_UPDATE_FIELDS)
        notifications = [item.notification for item in work]
        for notification in notifications:
            notification.updated_at = now
        update_rows(PushNotification, notifications, NOTIFICATION_UPDATE_FIELDS)
        transaction.on_commit(lambda: _after_commit(deps, reports, deactivations))
    for copy, original in copies.items():
        results[copy] = results[original]  # retried or dead-lettered along with it
    return results


def _merge_duplicates(requests: list[PushRequest]) -> tuple[list[tuple[int, PushRequest]], dict[int, int]]:
    """The same notification twice in one batch (a duplicate publish) is handled once, with
    the union of the token snapshots. Returns the requests to handle (with their index) and
    {index of a copy: index of the request handled for it}."""
    first: dict = {}
    copies: dict[int, int] = {}
    for index, request in enumerate(requests):
        if request.notification_id not in first:
            first[request.notification_id] = (index, request)
            continue
        kept_index, kept = first[request.notification_id]
        tokens = kept.tokens + tuple(t for t in request.tokens if t not in kept.tokens)
        first[request.notification_id] = (kept_index, replace(kept, tokens=tokens))
        copies[index] = kept_index
    return list(first.values()), copies


@transaction.atomic
def push_records_ensure(*, requests: list[PushRequest]) -> None:
    """Create the delivery rows that do not exist yet (a duplicate being created by another
    worker right now waits for that worker's commit, then is skipped)."""
    insert_ignoring_conflicts(
        PushNotification,
        [
            PushNotification(
                notification_id=r.notification_id,
                user_id=r.user_id,
                template_code=r.template_code,
                language=r.language,
                trace_id=r.trace_id,
            )
            for r in requests
        ],
    )
    pks = dict(
        PushNotification.objects.filter(notification_id__in=[r.notification_id for r in requests]).values_list(
            "notification_id", "id"
        )
    )
    insert_ignoring_conflicts(
        PushDeviceResult,
        [PushDeviceResult(notification_id=pks[r.notification_id], token=token) for r in requests for token in r.tokens],
    )


def _lock_work(unique: list[tuple[int, PushRequest]], results: list) -> list[_Work]:
    ids = [request.notification_id for _, request in unique]
    locked = {
        n.notification_id: n
        for n in PushNotification.objects.select_for_update(skip_locked=True).filter(notification_id__in=ids)
    }
    devices: dict = defaultdict(list)
    for device in PushDeviceResult.objects.filter(notification__in=list(locked.values())).order_by("created_at"):
        devices[device.notification_id].append(device)
    work = []
    for index, request in unique:
        notification = locked.get(request.notification_id)
        if notification is None:
            results[index] = TransientError(
                f"{ERROR_CONCURRENT_DELIVERY}: another worker is delivering this notification",
                retry_after=CONCURRENT_RETRY_SECONDS,
            )
            continue
        own = devices[notification.id]
        if request.attempt == 1:
            _reopen_exhausted(own)
        # Every pending device of the notification, whichever message's snapshot named it.
        to_send = [d for d in own if d.status == DEVICE_PENDING]
        if not to_send:
            continue  # a redelivery of a finished notification: nothing new to send
        work.append(_Work(index, request, notification, to_send, own, previous_status=notification.status))
    return work


def _reopen_exhausted(devices: list[PushDeviceResult]) -> None:
    """A first attempt that finds devices given up on after retries is a new delivery cycle
    (a replay from failed.queue): those devices get another chance; sent ones never do."""
    for device in devices:
        if device.status == DEVICE_FAILED and device.error_code == ERROR_ATTEMPTS_EXHAUSTED:
            device.status = DEVICE_PENDING


# -- rendering and validation -------------------------------------------------------------


def _render_and_send(work: list[_Work], deps: DeliveryDependencies) -> None:
    """Render (unless stored), validate and send each notification, as a pipeline: a push is
    sent as soon as its own render is back, so template calls and FCM calls overlap."""
    if not work:
        return
    try:
        deps.sender.check_available()  # circuit open: spend no template calls on the batch
    except FcmUnavailable as exc:
        for item in work:
            item.error = exc
        return
    submitted: dict[object, list] = {}
    by_future = {}
    for item in work:
        if item.notification.rendered_at is not None:
            _validate_and_submit(item, deps.sender, submitted)
        elif deps.render_pool is None:
            _apply_render(item, _render_result(deps.renderer, item))
            _validate_and_submit(item, deps.sender, submitted)
        else:
            by_future[deps.render_pool.submit(_render_result, deps.renderer, item)] = item
    try:
        for future in as_completed(by_future):
            item = by_future[future]
            _apply_render(item, future.result())
            _validate_and_submit(item, deps.sender, submitted)
    finally:
        outcomes = deps.sender.collect(submitted)  # also ends the batch if a render blew up
    for item in work:
        item.outcomes = outcomes.get(item.index, [])


def _render_result(renderer: TemplateRenderer, item: _Work):
    """The render, or the RenderError (runs in the render pool)."""
    request = item.request
    try:
        with request_id_scope(request.trace_id or None):
            return renderer.render(
                template_code=request.template_code,
                language=request.language,
                variables=request.variables,
                version=item.notification.version,
            )
    except RenderError as exc:
        return exc


def _apply_render(item: _Work, rendered) -> None:
    if isinstance(rendered, RenderError):
        item.error = rendered
        return
    notification = item.notification
    notification.version = rendered.version
    notification.language = rendered.language or notification.language
    notification.title = rendered.title if isinstance(rendered.title, str) else ""
    notification.body = rendered.body if isinstance(rendered.body, str) else ""
    notification.image_url = rendered.image_url if isinstance(rendered.image_url, str) else ""
    notification.data = rendered.data if isinstance(rendered.data, dict) else {}
    notification.rendered_at = timezone.now()
    item.rendered = rendered


def _validate_and_submit(item: _Work, sender: PushService, submitted: dict) -> None:
    if item.error is not None:
        return
    notification, rendered = item.notification, item.rendered
    try:
        item.payload = build_payload(
            notification_id=str(notification.notification_id),
            title=rendered.title if rendered else notification.title,
            body=rendered.body if rendered else notification.body,
            image_url=rendered.image_url if rendered else (notification.image_url or None),
            data=rendered.data if rendered else notification.data,
        )
    except PayloadError as exc:
        item.error = exc
        return
    try:
        submitted[item.index] = sender.submit(
            SendJob(key=item.index, payload=item.payload, tokens=tuple(d.token for d in item.devices))
        )
    except FcmUnavailable as exc:
        item.error = exc


# -- recording results ---------------------------------------------------------------------


def _settle(
    item: _Work,
    now,
    devices_to_save: list[PushDeviceResult],
    deactivations: list[PushDeviceResult],
    reports: list[tuple],
) -> Exception | None:
    """Apply one notification's results to its rows; return the message's result."""
    notification = item.notification
    notification.attempts += 1
    request = item.request
    # Saved whatever happens: a device re-opened by a replay is pending again even when
    # nothing could be sent this time.
    devices_to_save.extend(item.devices)
    for device in item.devices:
        device.updated_at = now
    if isinstance(item.error, (RenderError, PayloadError)) and _is_permanent(item.error):
        reason = f"{item.error.code}: {item.error.message}"
        _fail_devices(item.devices, item.error.code, item.error.message)
        return _conclude(item, reason, reports, retry=None)
    if item.error is not None:  # template service or FCM unavailable: nothing was sent
        code = getattr(item.error, "code", ERROR_FCM_UNAVAILABLE)
        reason = f"{code}: {getattr(item.error, 'message', None) or getattr(item.error, 'reason', item.error)}"
        retry = TransientError(reason, retry_after=getattr(item.error, "retry_after", None))
        if request.final_attempt:
            _fail_devices(item.devices, ERROR_ATTEMPTS_EXHAUSTED, reason)
        return _conclude(item, reason, reports, retry=retry)

    by_token = {outcome.token: outcome for outcome in item.outcomes}
    transient: list[TokenOutcome] = []
    first_failure = ""
    for device in item.devices:
        outcome = by_token.get(device.token)
        if outcome is None:
            continue
        device.attempts += 1
        device.error_code = outcome.error_code
        device.error_message = outcome.error_message
        if outcome.kind == SENT:
            device.status = DEVICE_SENT
            device.message_id = outcome.message_id[:255]
        elif outcome.kind == TRANSIENT:
            transient.append(outcome)
            if request.final_attempt:
                device.status = DEVICE_FAILED
                device.error_code = ERROR_ATTEMPTS_EXHAUSTED
                device.error_message = f"{outcome.error_code}: {outcome.error_message}"[:2000]
        else:
            device.status = DEVICE_FAILED
            if outcome.kind == DEACTIVATE:
                device.deactivation_requested = True
                deactivations.append(device)
        if outcome.kind != SENT and not first_failure:
            first_failure = f"{outcome.error_code}: {outcome.error_message}"
    retry = None
    if transient:
        retry_after = max((o.retry_after for o in transient if o.retry_after is not None), default=None)
        retry = TransientError(
            f"FCM {transient[0].error_code} for {len(transient)} device(s): {transient[0].error_message}"[:500],
            retry_after=retry_after,
        )
    return _conclude(item, first_failure, reports, retry=retry)


def _is_permanent(error: Exception) -> bool:
    return isinstance(error, PayloadError) or bool(getattr(error, "permanent", False))


def _fail_devices(devices, code: str, message: str) -> None:
    for device in devices:
        device.status = DEVICE_FAILED
        device.error_code = code[:64]
        device.error_message = message[:2000]


def _conclude(item: _Work, reason: str, reports: list[tuple], *, retry: TransientError | None) -> Exception | None:
    """Set the notification's status from all its devices and decide the message's fate.

    delivered: at least one device received it (later retries for the rest go on);
    failed: no device did and none can any more; pending otherwise.
    """
    notification = item.notification
    statuses = [device.status for device in item.all_devices]
    if DEVICE_SENT in statuses:
        notification.status = STATUS_DELIVERED
        notification.delivered_at = notification.delivered_at or timezone.now()
    elif DEVICE_PENDING in statuses:
        notification.status = STATUS_PENDING
    else:
        notification.status = STATUS_FAILED
    notification.last_error = reason[:2000]
    request = item.request
    counts = {s: statuses.count(s) for s in (DEVICE_SENT, DEVICE_FAILED, DEVICE_PENDING)}
    if notification.status != item.previous_status or notification.status == STATUS_FAILED:
        reports.append((notification, notification.status, reason or None, request.attempt, counts))
    elif notification.status == STATUS_PENDING and retry is not None:
        reports.append((notification, STATUS_PENDING, reason or None, request.attempt, counts))

    if retry is not None and not request.final_attempt:
        return retry
    if notification.status == STATUS_FAILED:
        if retry is not None:
            return retry  # the last attempt: the consumer base dead-letters it as exhausted
        return PermanentError(reason or "no device can receive this notification")
    return None


# -- after commit: reports and deactivations ---------------------------------------------------


def _after_commit(deps: DeliveryDependencies, reports: list[tuple], deactivations: list[PushDeviceResult]) -> None:
    if deps.reporter is not None:
        for notification, status, error, attempt, counts in reports:
            deps.reporter.report(
                str(notification.notification_id),
                status,
                user_id=str(notification.user_id),
                error=error,
                attempt=attempt,
                metadata={"channel": "push", "devices": counts},
            )
    if deps.deactivator is not None:
        for device in deactivations:
            deps.deactivator.deactivate(device.token, _deactivation_reason(device), result_id=device.id)


def _deactivation_reason(device: PushDeviceResult) -> str:
    return f"{DEACTIVATION_REASON_PREFIX}{device.error_code or 'error'}"


def push_reports_mark_sent(reports: Iterable[StatusReport]) -> None:
    """``StatusReporter.on_sent``: remember which status the user service has."""
    by_status: dict[str, list[str]] = defaultdict(list)
    for report in reports:
        by_status[report.status].append(report.notification_id)
    try:
        for status, ids in by_status.items():
            PushNotification.objects.filter(notification_id__in=ids, status=status).update(reported_status=status)
    finally:
        connection.close()  # runs in the reporter's thread: keep no idle connection there


def push_deactivations_mark_done(result_ids: list) -> None:
    """``DeviceDeactivator.on_done``: the user service deactivated these devices."""
    try:
        PushDeviceResult.objects.filter(id__in=result_ids, deactivated_at__isnull=True).update(
            deactivated_at=timezone.now()
        )
    finally:
        connection.close()  # runs in the deactivator's thread: keep no idle connection there


def push_unsent_followups_requeue(
    *, deps: DeliveryDependencies, max_age: timedelta = timedelta(days=2), limit: int = 10_000
) -> tuple[int, int]:
    """Queue again the final statuses and deactivations a previous process did not get
    through (it stopped while the user service was down). Returns (reports, deactivations)."""
    since = timezone.now() - max_age
    reports = 0
    if deps.reporter is not None:
        unreported = (
            PushNotification.objects.filter(status__in=(STATUS_DELIVERED, STATUS_FAILED), updated_at__gte=since)
            .exclude(reported_status=F("status"))
            .only("notification_id", "user_id", "status", "last_error", "attempts")[:limit]
        )
        for notification in unreported:
            deps.reporter.report(
                str(notification.notification_id),
                notification.status,
                user_id=str(notification.user_id),
                error=notification.last_error or None,
                attempt=notification.attempts,
            )
            reports += 1
    deactivations = 0
    if deps.deactivator is not None:
        pending = PushDeviceResult.objects.filter(
            deactivation_requested=True, deactivated_at__isnull=True, updated_at__gte=since
        ).only("id", "token", "error_code")[:limit]
        for device in pending:
            deps.deactivator.deactivate(device.token, _deactivation_reason(device), result_id=device.id)
            deactivations += 1
    return reports, deactivations
