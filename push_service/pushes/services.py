"""Delivering push notifications: the writes of the push service.

One call of :func:`push_batch_deliver` handles a batch of queue messages:

1. record the notification and one row per device (unique per notification and token);
2. **claim** the notifications in one commit: a fencing token and a lease (one under another
   worker's live claim is retried later, never sent in parallel); devices a stopped worker
   left ``sending`` get ``failed``/``outcome_unknown`` (never sent twice); pick the devices
   still ``pending``;
3. render (stored after the first time, so retries send the same push), validate;
4. just before each device's request is written (the wire hook of ``transport.py``), renew the
   lease and mark that device ``sending`` in one conditional commit (nothing is sent if the
   claim was taken over);
5. send through FCM, then record each device's result in its own transaction, only with the
   claim's token, then report statuses and queue device deactivations.

No database transaction spans an FCM call: an error after FCM accepted a push cannot roll
back its ``sent`` row and send it again. See docs/push_service.md ("State machine").
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from notification_common.rabbitmq import PermanentError, TransientError
from notification_common.request_context import request_id_scope
from notification_common.status_reports import StatusReport, StatusReporter
from pushes.bulk import insert_ignoring_conflicts, update_rows
from pushes.clients import DeviceDeactivator, RenderedPush, RenderError, TemplateRenderer
from pushes.constants import (
    DEACTIVATION_REASON_PREFIX,
    DEVICE_FAILED,
    DEVICE_PENDING,
    DEVICE_SENDING,
    DEVICE_SENT,
    ERROR_ATTEMPTS_EXHAUSTED,
    ERROR_CONCURRENT_DELIVERY,
    ERROR_FCM_UNAVAILABLE,
    ERROR_OUTCOME_UNKNOWN,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_PENDING,
)
from pushes.models import PushDeviceResult, PushNotification
from pushes.payloads import PayloadError, PushPayload, build_payload
from pushes.queue_messages import PushRequest
from pushes.transport import DEACTIVATE, SENT, TRANSIENT, FcmUnavailable, PushService, SendJob, TokenOutcome

logger = logging.getLogger(__name__)

# A notification locked by another worker is looked at again after about this long.
CONCURRENT_RETRY_SECONDS = 5.0
# Storing results is tried this often before the batch fails (their pushes are with FCM:
# a database blip must not leave them "sending", i.e. of unknown outcome).
RECORD_TRIES = 3
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
    "lease_expires_at",
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
    lease_seconds: float = field(default_factory=lambda: settings.PUSH_SERVICE["SENDING_LEASE_SECONDS"])


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
    token: uuid.UUID | None = None  # the claim's fencing token
    taken_over: bool = False  # the claim was lost before sending: nothing sent, not ours to record
    unknown: int = 0  # devices found "sending" under a dead claim, failed as outcome_unknown
    _saved: tuple | None = None

    def save_state(self) -> None:
        """Remember the rows' values, so that recording can be tried again from them."""
        self._saved = (
            self.notification.attempts,
            [
                (d.status, d.attempts, d.error_code, d.error_message, d.message_id, d.deactivation_requested)
                for d in self.devices
            ],
        )

    def restore_state(self) -> None:
        attempts, devices = self._saved
        self.notification.attempts = attempts
        for device, values in zip(self.devices, devices, strict=True):
            (
                device.status,
                device.attempts,
                device.error_code,
                device.error_message,
                device.message_id,
                device.deactivation_requested,
            ) = values


# -- entry point -----------------------------------------------------------------------


def push_batch_deliver(*, requests: list[PushRequest], deps: DeliveryDependencies) -> list[Exception | None]:
    """Deliver a batch; one result per request: None (done), TransientError or PermanentError."""
    results: list[Exception | None] = [None] * len(requests)
    unique, copies = _merge_duplicates(requests)
    if not unique:
        return results
    push_records_ensure(requests=[request for _, request in unique])
    work = push_batch_claim(unique=unique, results=results, lease_seconds=deps.lease_seconds)
    if work:
        _render_and_send(work, deps)
        for item in work:
            item.save_state()
        _record_with_retries(work=work, results=results, deps=deps)
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


def _claim_is_live(notification: PushNotification, now) -> bool:
    return notification.lease_expires_at is not None and notification.lease_expires_at > now


@transaction.atomic
def push_batch_claim(*, unique: list[tuple[int, PushRequest]], results: list, lease_seconds: float) -> list[_Work]:
    """Claim the notifications that have devices to send (one commit, before any FCM call).

    A notification locked by another worker's claim transaction, or under another worker's
    live lease, gets a TransientError in ``results`` (retried later). Devices a stopped
    worker left ``sending`` may have reached FCM: they become ``failed``/``outcome_unknown``
    and are never sent again (at most once per device).
    """
    ids = [request.notification_id for _, request in unique]
    locked = {
        n.notification_id: n
        for n in PushNotification.objects.select_for_update(skip_locked=True).filter(notification_id__in=ids)
    }
    devices: dict = defaultdict(list)
    for device in PushDeviceResult.objects.filter(notification__in=list(locked.values())).order_by("created_at"):
        devices[device.notification_id].append(device)
    now = timezone.now()
    token = uuid.uuid4()
    work, claimed, changed_devices = [], [], []
    for index, request in unique:
        notification = locked.get(request.notification_id)
        if notification is None or _claim_is_live(notification, now):
            retry_after = CONCURRENT_RETRY_SECONDS
            if notification is not None:
                retry_after = max(CONCURRENT_RETRY_SECONDS, (notification.lease_expires_at - now).total_seconds())
            results[index] = TransientError(
                f"{ERROR_CONCURRENT_DELIVERY}: another worker is delivering this notification",
                retry_after=retry_after,
            )
            continue
        own = devices[notification.id]
        unknown = _fail_unknown_outcomes(own, now)
        reopened = _reopen_exhausted(own) if request.attempt == 1 else []
        changed_devices += unknown + reopened
        # Every pending device of the notification, whichever message's snapshot named it.
        to_send = [d for d in own if d.status == DEVICE_PENDING]
        if not to_send and not unknown:
            continue  # a redelivery of a finished notification: nothing new to send
        notification.claim_token, notification.lease_expires_at = token, now + timedelta(seconds=lease_seconds)
        claimed.append(notification)
        item = _Work(index, request, notification, to_send, own, previous_status=notification.status)
        item.token, item.unknown = token, len(unknown)
        work.append(item)
    update_rows(PushDeviceResult, changed_devices, DEVICE_UPDATE_FIELDS)
    update_rows(PushNotification, claimed, ["claim_token", "lease_expires_at"])
    return work


def _fail_unknown_outcomes(devices: list[PushDeviceResult], now) -> list[PushDeviceResult]:
    unknown = [device for device in devices if device.status == DEVICE_SENDING]
    for device in unknown:
        device.status = DEVICE_FAILED
        device.error_code = ERROR_OUTCOME_UNKNOWN
        device.error_message = (
            "the worker that handed this push to FCM stopped before recording the answer; "
            "not sent again (at most once per device)"
        )
        device.updated_at = now
    return unknown


def _reopen_exhausted(devices: list[PushDeviceResult]) -> list[PushDeviceResult]:
    """A first attempt that finds devices given up on after retries is a new delivery cycle
    (a replay from failed.queue): those devices get another chance; sent ones never do."""
    reopened = []
    for device in devices:
        if device.status == DEVICE_FAILED and device.error_code == ERROR_ATTEMPTS_EXHAUSTED:
            device.status = DEVICE_PENDING
            reopened.append(device)
    return reopened


def push_devices_mark_sending(*, item: _Work, tokens: tuple[str, ...], lease_seconds: float) -> bool:
    """Just before the request for ``tokens`` is written: renew the claim's lease and mark
    those devices ``sending``, in one conditional statement (its own commit). False, and
    nothing may be sent, when the claim was taken over by another worker (our lease ran out
    while the batch stalled)."""
    quote = connection.ops.quote_name
    notifications, devices = PushNotification._meta.db_table, PushDeviceResult._meta.db_table
    sql = (
        f"WITH claim AS (UPDATE {quote(notifications)} SET lease_expires_at = %s"
        f" WHERE id = %s AND claim_token = %s RETURNING id)"
        f" UPDATE {quote(devices)} SET status = %s, updated_at = %s"
        f" WHERE notification_id IN (SELECT id FROM claim) AND id = ANY(%s::uuid[]) AND status = %s RETURNING id"
    )
    now = timezone.now()
    params = [now + timedelta(seconds=lease_seconds), item.notification.pk, item.token, DEVICE_SENDING, now]
    devices = [device for device in item.devices if device.token in tokens]
    params += [[device.pk for device in devices], DEVICE_PENDING]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        marked = {row[0] for row in cursor.fetchall()}
    if not devices or len(marked) != len(devices):
        # Under our claim every one of them is still pending; anything else means it is not ours.
        logger.warning("push %s was taken over by another worker; not sent here", item.notification.notification_id)
        item.taken_over = True
        return False
    return True


# -- rendering and validation -------------------------------------------------------------


def _render_and_send(work: list[_Work], deps: DeliveryDependencies) -> None:
    """Render (unless stored), validate and send each notification, as a pipeline: a push is
    sent as soon as its own render is back, so template calls and FCM calls overlap."""
    if not work:
        return
    work = [item for item in work if item.devices]  # some only had unknown outcomes to settle
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
            _validate_and_submit(item, deps, submitted)
        elif deps.render_pool is None:
            _apply_render(item, _render_result(deps.renderer, item))
            _validate_and_submit(item, deps, submitted)
        else:
            by_future[deps.render_pool.submit(_render_result, deps.renderer, item)] = item
    try:
        for future in as_completed(by_future):
            item = by_future[future]
            _apply_render(item, future.result())
            _validate_and_submit(item, deps, submitted)
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


def _mark_sending_at_the_wire(item: _Work, lease_seconds: float):
    """The hook the send thread runs just before a device's request is written (transport.py's
    wire adapter): that device, and only it, becomes ``sending``, in its own commit. A worker
    killed with requests still waiting in the send pool, or still being prepared, leaves those
    devices ``pending`` (sent by the next claim), so only requests really on the wire can end
    as ``outcome_unknown``."""

    def mark(tokens: tuple[str, ...]) -> bool:
        if item.taken_over:
            return False
        try:
            return push_devices_mark_sending(item=item, tokens=tokens, lease_seconds=lease_seconds)
        finally:
            close_old_connections()

    return mark


def _validate_and_submit(item: _Work, deps: DeliveryDependencies, submitted: dict) -> None:
    if item.error is not None:
        return
    sender: PushService = deps.sender
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
            SendJob(
                key=item.index,
                payload=item.payload,
                tokens=tuple(d.token for d in item.devices),
                before_send=_mark_sending_at_the_wire(item, deps.lease_seconds),
            )
        )
    except FcmUnavailable as exc:
        item.error = exc


# -- recording results ---------------------------------------------------------------------


def _record_with_retries(*, work: list[_Work], results: list, deps: DeliveryDependencies) -> None:
    for attempt in range(1, RECORD_TRIES + 1):
        try:
            push_results_record(work=work, results=results, deps=deps)
            return
        except DatabaseError:
            if attempt == RECORD_TRIES or connection.in_atomic_block:
                raise  # the devices stay "sending": never sent again (docs/push_service.md)
            logger.warning("recording push results failed; trying again", exc_info=True)
            connection.close()
            time.sleep(0.5 * attempt)
            for item in work:
                item.restore_state()


@transaction.atomic
def push_results_record(*, work: list[_Work], results: list, deps: DeliveryDependencies) -> None:
    """Store every device's result and each notification's status, only for the notifications
    this batch still holds (its token); after commit, queue reports and deactivations."""
    held = set(
        PushNotification.objects.select_for_update()
        .filter(pk__in=[item.notification.pk for item in work], claim_token=work[0].token)
        .values_list("pk", flat=True)
    )
    now = timezone.now()
    reports: list[tuple] = []
    deactivations: list[PushDeviceResult] = []
    devices_to_save: list[PushDeviceResult] = []
    notifications: list[PushNotification] = []
    for item in work:
        if item.taken_over or item.notification.pk not in held:
            # Another worker claimed it after our lease ran out: it sends and records.
            logger.warning("push %s was claimed by another worker; not stored here", item.request.notification_id)
            results[item.index] = None
            continue
        results[item.index] = _settle(item, now, devices_to_save, deactivations, reports)
        item.notification.lease_expires_at = None  # the claim ends with the results
        item.notification.updated_at = now
        notifications.append(item.notification)
    update_rows(PushDeviceResult, devices_to_save, DEVICE_UPDATE_FIELDS)
    update_rows(PushNotification, notifications, NOTIFICATION_UPDATE_FIELDS)
    transaction.on_commit(lambda: _after_commit(deps, reports, deactivations))


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
    first_failure = f"{ERROR_OUTCOME_UNKNOWN}: {item.unknown} device(s)" if item.unknown else ""
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


# -- dead letters ----------------------------------------------------------------------------


@transaction.atomic
def push_mark_failed(*, notification_id, failure_reason: str) -> bool:
    """A message of this notification was dead-lettered (e.g. a malformed copy): mark the
    delivery failed; returns whether "failed" may be reported.

    Final states never go back: a delivered notification, or one a worker holds a live claim
    on (it is being sent right now; that worker decides), is left as it is (False). An
    unknown notification has no row to mark (the message may lack what a row needs) and may
    be reported failed (True).
    """
    notification = PushNotification.objects.select_for_update().filter(notification_id=notification_id).first()
    if notification is None:
        return True
    if notification.status == STATUS_DELIVERED or _claim_is_live(notification, timezone.now()):
        return False
    notification.status = STATUS_FAILED
    notification.last_error = failure_reason[:2000]
    # A worker whose lease ran out (stalled, not crashed) finds its token gone and sends nothing.
    notification.claim_token = notification.lease_expires_at = None
    notification.save(update_fields=["status", "last_error", "claim_token", "lease_expires_at", "updated_at"])
    return True


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
