"""What a batch carries between the steps of :func:`pushes.services.push_batch_deliver`: the
dependencies delivering needs, and one work item per claimed notification."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings

from notification_common.status_reports import StatusReporter
from pushes.clients import DeviceDeactivator, RenderedPush, TemplateRenderer
from pushes.models import PushDeviceResult, PushNotification
from pushes.outcomes import TokenOutcome
from pushes.payloads import PushPayload
from pushes.queue_messages import PushRequest
from pushes.transport import PushService

# The device fields a batch writes (claiming, then recording its results).
DEVICE_UPDATE_FIELDS = [
    "status",
    "error_code",
    "error_message",
    "message_id",
    "attempts",
    "deactivation_requested",
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
    lease_renewed_at: float = 0.0  # time.monotonic() when the claim's lease was last renewed
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
