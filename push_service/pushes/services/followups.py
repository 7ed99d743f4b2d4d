"""After a batch's results are committed: status reports to the user service and device
deactivations, the marks their senders call back with, and at start the ones a previous
process did not get through."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from django.db import connection
from django.db.models import F
from django.utils import timezone

from notification_common.status_reports import StatusReport, status_reports_resend
from pushes.constants import DEACTIVATION_REASON_PREFIX, STATUS_DELIVERED, STATUS_FAILED
from pushes.models import PushDeviceResult, PushNotification
from pushes.services.batch import DeliveryDependencies


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
            .only("notification_id", "user_id", "status", "last_error", "attempts", "updated_at")[:limit]
        )
        reports = status_reports_resend(deps.reporter, unreported)
    deactivations = 0
    if deps.deactivator is not None:
        pending = PushDeviceResult.objects.filter(
            deactivation_requested=True, deactivated_at__isnull=True, updated_at__gte=since
        ).only("id", "token", "error_code")[:limit]
        for device in pending:
            deps.deactivator.deactivate(device.token, _deactivation_reason(device), result_id=device.id)
            deactivations += 1
    return reports, deactivations
