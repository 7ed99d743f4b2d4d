"""A notification's live status: read from the user service's log and remembered on the
gateway's record (the workers report there, not here)."""

from dataclasses import dataclass

from django.utils import timezone

from notification_common.exceptions import DependencyUnavailable
from notifications.clients import notification_status_get
from notifications.constants import NotificationStatus, StatusSource
from notifications.models import NotificationRequest


@dataclass(frozen=True)
class NotificationLiveStatus:
    status: str
    source: str
    log: dict | None  # the user service's log entry, when it has one


def notification_status_refresh(*, notification: NotificationRequest) -> NotificationLiveStatus:
    """The live status from the user service's log, remembered on the gateway's record.

    With the user service down the gateway's last known status is answered instead; so it is
    for a notification still scheduled or cancelled, which the workers have never seen.
    """
    if notification.status in (NotificationStatus.SCHEDULED, NotificationStatus.CANCELLED):
        return NotificationLiveStatus(status=notification.status, source=StatusSource.GATEWAY, log=None)
    try:
        log = notification_status_get(notification_id=str(notification.id))
    except DependencyUnavailable:
        return NotificationLiveStatus(status=notification.status, source=StatusSource.GATEWAY, log=None)
    status = (log or {}).get("status") or NotificationStatus.PENDING
    if status in NotificationStatus.values and status != notification.status:
        NotificationRequest.objects.filter(pk=notification.pk).update(status=status, updated_at=timezone.now())
        notification.status = status
    return NotificationLiveStatus(status=status, source=StatusSource.USER_SERVICE, log=log)
