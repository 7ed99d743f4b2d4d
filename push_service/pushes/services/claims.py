"""Claiming a batch's notifications (steps 1, 2 and 4 of :mod:`pushes.services`): the delivery
rows, the claim (fencing token and lease) in one commit, and each device marked ``sending`` in a
conditional commit of its own just before its request is written. docs/push_service.md
("State machine")."""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from notification_common.bulk_writes import insert_ignoring_conflicts, update_rows
from notification_common.pipelined import AnswerLost, StatementNotSent, execute_then
from notification_common.rabbitmq import TransientError
from pushes.constants import (
    DEVICE_FAILED,
    DEVICE_PENDING,
    DEVICE_SENDING,
    ERROR_ATTEMPTS_EXHAUSTED,
    ERROR_CONCURRENT_DELIVERY,
    ERROR_OUTCOME_UNKNOWN,
)
from pushes.models import PushDeviceResult, PushNotification
from pushes.queue_messages import PushRequest
from pushes.services.batch import DEVICE_UPDATE_FIELDS, _Work

logger = logging.getLogger(__name__)

# A notification locked by another worker is looked at again after about this long.
CONCURRENT_RETRY_SECONDS = 5.0


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
        item.lease_renewed_at = time.monotonic()
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


# The mark: renew the claim's lease and set the devices ``sending``, only under our claim token.
_MARK_SQL = (
    "WITH claim AS (UPDATE {notifications} SET lease_expires_at = $1 WHERE id = $2 AND claim_token = $3 RETURNING id)"
    " UPDATE {devices} SET status = $4, updated_at = $5"
    " WHERE notification_id IN (SELECT id FROM claim) AND id = ANY($6::uuid[]) AND status = $7 RETURNING id"
)
_RENEW_SQL = "UPDATE {notifications} SET lease_expires_at = %s WHERE id = %s AND claim_token = %s"


def push_devices_mark_and_write(
    *, item: _Work, tokens: tuple[str, ...], lease_seconds: float, write: Callable[[], None]
) -> bool:
    """Mark the devices of ``tokens`` ``sending`` (renewing the claim's lease), and write their
    request with ``write`` right behind the mark, before its answer is back.

    A worker killed between the mark's commit and the write leaves a device marked that FCM never
    got (``outcome_unknown``: at most once, never sent again). Waiting for the commit's answer
    before writing put a database round trip, and the wait of a woken thread for a CPU and the
    GIL, into that window. So the mark goes out pipelined: its statement is sent, the request
    is written at once, and then the answer is read. The fencing this gives up (the mark's
    answer is no longer known before the write) is kept by the lease: the claim's lease is
    renewed, with its answer awaited, whenever more than half of it has passed since it was
    last renewed, so no other worker can have claimed the notification when the request goes.

    False, and nothing written, when the claim was taken over (our lease ran out while the
    batch stalled). A mark whose answer cannot be read after the write still counts as sent:
    the outcome is recorded with the batch's results.
    """
    devices = [device for device in item.devices if device.token in tokens]
    if not devices:
        return _taken_over(item)
    if time.monotonic() - item.lease_renewed_at > lease_seconds / 2 and not _renew_lease(item, lease_seconds):
        return _taken_over(item)
    connection.ensure_connection()
    quote = connection.ops.quote_name
    sql = _MARK_SQL.format(
        notifications=quote(PushNotification._meta.db_table), devices=quote(PushDeviceResult._meta.db_table)
    )
    now = timezone.now()
    params = [
        (now + timedelta(seconds=lease_seconds)).isoformat(),
        str(item.notification.pk),
        str(item.token),
        DEVICE_SENDING,
        now.isoformat(),
        "{" + ",".join(str(device.pk) for device in devices) + "}",
        DEVICE_PENDING,
    ]
    renewed_at = time.monotonic()
    try:
        marked = execute_then(connection.connection, sql, params, write)
    except StatementNotSent as exc:  # the database is unreachable: nothing was written
        connection.close()
        raise OperationalError(f"the sending mark could not be sent: {exc}") from exc
    except AnswerLost as exc:
        logger.warning(
            "the sending mark of push %s got no answer (%s); its request went", item.notification.notification_id, exc
        )
        connection.close()
        return True
    item.lease_renewed_at = renewed_at
    if marked != len(devices):
        # Only possible if the claim was taken over within half a lease of its renewal (clocks
        # far apart): the request went anyway; the other holder's copy may also go.
        logger.error(
            "push %s was marked for %d of %d devices after its request went",
            item.notification.notification_id,
            marked,
            len(devices),
        )
    return True


def _renew_lease(item: _Work, lease_seconds: float) -> bool:
    quote = connection.ops.quote_name
    renewed_at = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            _RENEW_SQL.format(notifications=quote(PushNotification._meta.db_table)),
            [timezone.now() + timedelta(seconds=lease_seconds), item.notification.pk, item.token],
        )
        if cursor.rowcount != 1:
            return False
    item.lease_renewed_at = renewed_at
    return True


def _taken_over(item: _Work) -> bool:
    # Under our claim every device is still pending; anything else means it is not ours.
    logger.warning("push %s was taken over by another worker; not sent here", item.notification.notification_id)
    item.taken_over = True
    return False
