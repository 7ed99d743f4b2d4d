"""Recording a batch's results (step 5 of :mod:`pushes.services`): every device's result and
each notification's status in a transaction of their own, only under the claim's token; and
marking a notification failed when one of its messages was dead-lettered."""

from __future__ import annotations

import logging
import time

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from notification_common.bulk_writes import update_rows
from notification_common.rabbitmq import PermanentError, TransientError
from pushes.clients import RenderError
from pushes.constants import (
    DEVICE_FAILED,
    DEVICE_PENDING,
    DEVICE_SENT,
    ERROR_ATTEMPTS_EXHAUSTED,
    ERROR_FCM_UNAVAILABLE,
    ERROR_OUTCOME_UNKNOWN,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_PENDING,
)
from pushes.models import PushDeviceResult, PushNotification
from pushes.outcomes import DEACTIVATE, SENT, TRANSIENT, TokenOutcome
from pushes.payloads import PayloadError
from pushes.services.batch import DEVICE_UPDATE_FIELDS, DeliveryDependencies, _Work
from pushes.services.claims import _claim_is_live
from pushes.services.followups import _after_commit

logger = logging.getLogger(__name__)

# Storing results is tried this often before the batch fails (their pushes are with FCM:
# a database blip must not leave them "sending", i.e. of unknown outcome).
RECORD_TRIES = 3
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
