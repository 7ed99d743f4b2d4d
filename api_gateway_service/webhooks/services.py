"""Writes of the webhooks app: endpoints, the deliveries owed to them, and sending them.

Design (docs/api_gateway.md, "Status webhooks"): the user service already receives every
status report; the dispatcher reads its final-status events after a cursor, turns them into
WebhookDelivery rows (unique per endpoint, notification and event, so reading an event twice
owes it once), and POSTs due deliveries with exponential backoff until a 2xx or the budget.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from notifications.models import NotificationRequest

from notification_common.exceptions import ApplicationError, DependencyUnavailable
from notification_common.http_client import envelope_data
from notification_common.service_clients import user_client
from webhooks.constants import EVENT_HEADER, SIGNATURE_HEADER, TEST_EVENT, DeliveryState, WebhookEvent
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookStatusCursor
from webhooks.signing import signature_header, webhook_secret_generate
from webhooks.url_rules import WebhookUrlRefused, webhook_url_check

logger = logging.getLogger("webhooks")

CURSOR_NAME = "status-events"
STATUS_EVENTS_PATH = "/api/v1/notifications/status-events/"
# How much of an answer is kept in the log.
ERROR_MAX_CHARS = 500


def _url_refused(exc: WebhookUrlRefused) -> ApplicationError:
    return ApplicationError("validation_error", f"url: {exc}", 400, data={"url": [str(exc)]})


def webhook_create(*, sender: str, url: str, events: list[str]) -> WebhookEndpoint:
    """A new endpoint for ``sender`` with a fresh signing secret (the caller shows it once)."""
    try:
        webhook_url_check(url)
    except WebhookUrlRefused as exc:
        raise _url_refused(exc) from exc
    ordered = [event for event in WebhookEvent.values if event in set(events)]
    return WebhookEndpoint.objects.create(sender=sender, url=url, events=ordered, secret=webhook_secret_generate())


def webhook_delete(*, endpoint: WebhookEndpoint) -> None:
    # Its pending deliveries go with it: nothing is sent to an endpoint the sender removed.
    endpoint.delete()


def _body(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def webhook_test_send(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> WebhookDelivery:
    """Queue a ``test`` event for the endpoint, due at once; it is sent and retried like any other."""
    now = now or timezone.now()
    payload = {
        "event": TEST_EVENT,
        "notification_id": str(uuid.uuid4()),
        "request_id": None,
        "channel": None,
        "status": TEST_EVENT,
        "error": None,
        "occurred_at": now.isoformat(),
    }
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=TEST_EVENT,
        notification_id=payload["notification_id"],
        payload=payload,
        next_attempt_at=now,
        give_up_at=now + timedelta(seconds=settings.WEBHOOK_RETRY_BUDGET_SECONDS),
    )


@dataclass(frozen=True)
class StatusEvent:
    """A final status as the user service's feed reports it."""

    event_id: int
    notification_id: uuid.UUID
    status: str
    error: str
    timestamp: datetime
    received_at: datetime


def webhook_deliveries_create(*, events: list[StatusEvent], now: datetime | None = None) -> int:
    """Owe each event to the endpoints of its notification's sender that subscribed to it and
    existed when it was received. Repeats are ignored (unique constraint). Returns the rows
    offered (repeats included)."""
    now = now or timezone.now()
    if not events:
        return 0
    notifications = {
        row["id"]: row
        for row in NotificationRequest.objects.filter(id__in={event.notification_id for event in events}).values(
            "id", "sender", "idempotency_key", "notification_type"
        )
    }
    endpoints_by_sender: dict[str, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(sender__in={row["sender"] for row in notifications.values()}):
        endpoints_by_sender.setdefault(endpoint.sender, []).append(endpoint)
    give_up_at = now + timedelta(seconds=settings.WEBHOOK_RETRY_BUDGET_SECONDS)
    rows = []
    for event in events:
        notification = notifications.get(event.notification_id)
        if notification is None:
            continue  # not accepted by this gateway (or by one whose database this is not)
        for endpoint in endpoints_by_sender.get(notification["sender"], ()):
            if event.status not in endpoint.events or event.received_at < endpoint.created_at:
                continue
            payload = {
                "event": event.status,
                "notification_id": str(event.notification_id),
                "request_id": notification["idempotency_key"],
                "channel": notification["notification_type"],
                "status": event.status,
                "error": event.error or None,
                "occurred_at": event.timestamp.isoformat(),
            }
            rows.append(
                WebhookDelivery(
                    endpoint=endpoint,
                    event=event.status,
                    notification_id=event.notification_id,
                    payload=payload,
                    next_attempt_at=now,
                    give_up_at=give_up_at,
                )
            )
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _parse_event(raw: dict) -> StatusEvent:
    timestamp = parse_datetime(str(raw["timestamp"]))
    received_at = parse_datetime(str(raw["received_at"]))
    if timestamp is None or received_at is None:
        raise ValueError(f"bad times in {raw!r}")
    return StatusEvent(
        event_id=int(raw["id"]),
        notification_id=uuid.UUID(str(raw["notification_id"])),
        status=str(raw["status"]),
        error=str(raw.get("error") or ""),
        timestamp=timestamp,
        received_at=received_at,
    )


def webhook_status_poll(*, now: datetime | None = None) -> int:
    """Read one page of final statuses after the cursor from the user service, owe them to
    the endpoints, and advance the cursor, in one transaction. Returns the events read (a
    full page means more are waiting). Another dispatcher holding the cursor: returns 0.

    The user service only returns events received more than WEBHOOK_STATUS_SETTLE_SECONDS
    ago (by its own clock), so every event at or before the cursor is committed and visible
    when the cursor passes it: none is skipped by a transaction that commits late.
    """
    limit = settings.WEBHOOK_STATUS_PAGE_SIZE
    with transaction.atomic():
        WebhookStatusCursor.objects.get_or_create(name=CURSOR_NAME)
        cursor = WebhookStatusCursor.objects.select_for_update(skip_locked=True).filter(name=CURSOR_NAME).first()
        if cursor is None:
            return 0
        params = {"after_id": cursor.event_id, "limit": limit, "settle_seconds": settings.WEBHOOK_STATUS_SETTLE_SECONDS}
        if cursor.received_at is not None:
            params["after"] = cursor.received_at.isoformat()
        response = user_client().get(STATUS_EVENTS_PATH, params=params)
        data = envelope_data(response) if response.status_code == 200 else None
        if not isinstance(data, list):
            raise DependencyUnavailable("user_service", f"status events answered {response.status_code}")
        events = [_parse_event(raw) for raw in data]
        webhook_deliveries_create(events=events, now=now)
        if events:
            cursor.received_at = events[-1].received_at
            cursor.event_id = events[-1].event_id
            cursor.save(update_fields=["received_at", "event_id", "updated_at"])
        return len(events)


def _retry_delay(attempts: int) -> float:
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    delay = min(settings.WEBHOOK_RETRY_MAX_SECONDS, base * 2 ** (attempts - 1))
    # Jitter down only, so the cap holds and a receiver that is back gets requests spread out.
    return delay * random.uniform(0.8, 1.0)


def _claim_due(*, now: datetime, limit: int) -> list[WebhookDelivery]:
    """Take due deliveries and push their next attempt past a lease, so other dispatchers
    leave them alone while they are sent, and a dispatcher that dies leaves them due again."""
    lease = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + settings.WEBHOOK_LEASE_MARGIN_SECONDS)
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("endpoint")
            .filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")[:limit]
        )
        if due:
            WebhookDelivery.objects.filter(id__in=[row.id for row in due]).update(next_attempt_at=now + lease)
    return due


_session = None


def _http() -> requests.Session:
    global _session
    if _session is None:
        _session = requests.Session()
        _session.trust_env = False  # no proxy from the environment: the URL check is what decides
    return _session


def _post(delivery: WebhookDelivery, *, now: datetime) -> tuple[int | None, str]:
    """POST the delivery once: (status code or None, error text)."""
    try:
        webhook_url_check(delivery.endpoint.url)  # again: the host may resolve elsewhere now
    except WebhookUrlRefused as exc:
        return None, f"refused: {exc}"
    body = _body(delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "notification-platform-webhooks/1",
        EVENT_HEADER: delivery.event,
        SIGNATURE_HEADER: signature_header(secret=delivery.endpoint.secret, body=body, timestamp=int(now.timestamp())),
        "X-Webhook-Delivery-ID": str(delivery.id),
    }
    try:
        # No redirects: a 3xx is not a 2xx, and following it would bypass the URL check.
        response = _http().post(
            delivery.endpoint.url,
            data=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS]
    error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}: {response.text[:200]}"
    response.close()
    return response.status_code, error


def _record(delivery: WebhookDelivery, *, status_code: int | None, error: str, at: datetime, duration_ms: int):
    with transaction.atomic():
        row = WebhookDelivery.objects.select_for_update().filter(id=delivery.id).first()
        if row is None or row.state != DeliveryState.PENDING:
            return row  # deleted with its endpoint, or settled by another dispatcher meanwhile
        row.attempts += 1
        row.last_status_code = status_code
        row.last_error = error
        row.history = [
            *row.history,
            {"at": at.isoformat(), "status_code": status_code, "error": error or None, "duration_ms": duration_ms},
        ]
        if status_code is not None and 200 <= status_code < 300:
            row.state = DeliveryState.DELIVERED
            row.delivered_at = at
            row.next_attempt_at = None
        elif at >= row.give_up_at:
            row.state = DeliveryState.FAILED
            row.next_attempt_at = None
        else:
            # The last attempt is made at give_up_at, so retries cover the whole budget.
            row.next_attempt_at = min(at + timedelta(seconds=_retry_delay(row.attempts)), row.give_up_at)
        row.save()
        return row


def webhook_deliveries_send_due(*, now=None, limit: int | None = None, clock=timezone.now) -> list[WebhookDelivery]:
    """Send every due delivery once (a batch of at most ``limit``); each becomes delivered on a
    2xx, failed after its budget, or pending with its next attempt. Returns them as recorded."""
    now = now or clock()
    limit = limit or settings.WEBHOOK_SEND_BATCH_SIZE
    recorded = []
    for delivery in _claim_due(now=now, limit=limit):
        started = time.monotonic()
        status_code, error = _post(delivery, now=now)
        duration_ms = round((time.monotonic() - started) * 1000)
        if error:
            logger.info(
                "webhook attempt failed",
                extra={"delivery_id": str(delivery.id), "status": status_code, "error": error[:200]},
            )
        row = _record(delivery, status_code=status_code, error=error, at=now, duration_ms=duration_ms)
        if row is not None:
            recorded.append(row)
    return recorded
