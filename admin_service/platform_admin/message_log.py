"""The operators' message log: find notifications and assemble one's timeline across the
services, each part from its owner's internal API (docs/admin_service.md, "Message log").

A service that fails to answer costs its part of the page (shown as an error), never the page.
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings

from notification_common.exceptions import ApplicationError
from platform_admin import clients
from platform_admin.models import DeadLetter

GATEWAY_MESSAGE_LOG_PATH = "/api/v1/message-log/"
USER_NOTIFICATION_STATUS_PATH = "/api/v1/notifications/{notification_id}/status/"
EMAIL_DETAIL_PATH = "/api/v1/emails/{notification_id}/"
PUSH_DETAIL_PATH = "/api/v1/pushes/{notification_id}/"
WEBHOOK_DELIVERIES_PATH = "/api/v1/webhooks/deliveries/"
SEARCH_LIMIT = 50


@dataclass
class SearchResult:
    kind: str  # what the query was read as: notification_id, user_id, email or request_id
    rows: list = field(default_factory=list)
    error: str | None = None


@dataclass
class TimelineEvent:
    at: str | None
    service: str
    what: str
    detail: str = ""


@dataclass
class Timeline:
    notification: dict | None = None
    events: list[TimelineEvent] = field(default_factory=list)
    delivery: dict | None = None
    status: dict | None = None
    dead_letters: list = field(default_factory=list)
    webhook_deliveries: list = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def _gateway_search(params: dict) -> list:
    params = {**params, "limit": SEARCH_LIMIT}
    result = clients._result(
        clients.gateway_client().get(GATEWAY_MESSAGE_LOG_PATH, params=params), "api_gateway_service"
    )
    return result.data or []


def message_log_search(*, query: str) -> SearchResult:
    """A notification id or user id (a UUID), an email address, or else a request_id."""
    query = query.strip()
    try:
        as_uuid = str(uuid.UUID(query))
    except ValueError:
        as_uuid = None
    try:
        if as_uuid:
            rows = _gateway_search({"notification_id": as_uuid})
            if rows:
                return SearchResult("notification_id", rows)
            return SearchResult("user_id", _gateway_search({"user_id": as_uuid}))
        if "@" in query:
            users = clients.users_fetch(search=query, limit=SEARCH_LIMIT).data or []
            ids = [u["id"] for u in users if (u.get("email") or "").lower() == query.lower()]
            return SearchResult("email", _gateway_search({"user_id": ids}) if ids else [])
        return SearchResult("request_id", _gateway_search({"request_id": query}))
    except ApplicationError as exc:
        return SearchResult("error", error=exc.message)


def _fetch(timeline: Timeline, service: str, base_url: str, path: str, params: dict | None = None):
    try:
        return clients._result(clients.probe_client(service, base_url).get(path, params=params), service).data
    except ApplicationError as exc:
        if exc.status_code != 404:
            timeline.errors[service] = exc.message
    except Exception as exc:  # noqa: BLE001 - an unreachable service is shown, not raised
        timeline.errors[service] = f"{service} unavailable: {exc.__class__.__name__}"
    return None


def message_timeline(*, notification_id: str) -> Timeline:
    timeline = Timeline()
    try:
        rows = _gateway_search({"notification_id": notification_id})
    except ApplicationError as exc:
        rows = []
        timeline.errors["api_gateway_service"] = exc.message
    n = timeline.notification = rows[0] if rows else None
    events = timeline.events
    if n:
        events.append(TimelineEvent(n["created_at"], "gateway", "accepted", f"sender {n['sender']}"))
        if n.get("send_at"):
            why = "deferred by quiet hours" if n.get("quiet_hours_deferred") else "scheduled"
            events.append(TimelineEvent(n["send_at"], "gateway", why))
        if n.get("published_at"):
            events.append(TimelineEvent(n["published_at"], "gateway", "published (outbox)"))
        if n.get("cancelled_at"):
            events.append(TimelineEvent(n["cancelled_at"], "gateway", "cancelled"))
    channel = (n or {}).get("notification_type")
    if channel in (None, "email"):
        email = _fetch(
            timeline,
            "email_service",
            settings.EMAIL_SERVICE_URL,
            EMAIL_DETAIL_PATH.format(notification_id=notification_id),
        )
        if email:
            timeline.delivery = email
            for attempt in email.get("history") or []:
                answer = " ".join(str(x) for x in (attempt.get("smtp_code"), attempt.get("error")) if x)
                what = f"attempt {attempt.get('attempt_number')}: {attempt.get('outcome')}"
                events.append(TimelineEvent(attempt.get("created_at"), "email", what, answer))
    if channel in (None, "push"):
        push = _fetch(
            timeline,
            "push_service",
            settings.PUSH_SERVICE_URL,
            PUSH_DETAIL_PATH.format(notification_id=notification_id),
        )
        if push:
            timeline.delivery = push
            for device in push.get("devices") or []:
                answer = " ".join(str(device.get(k)) for k in ("status", "error_code", "error") if device.get(k))
                events.append(
                    TimelineEvent(device.get("updated_at") or push.get("updated_at"), "push", "device", answer)
                )
    for letter in DeadLetter.objects.filter(notification_id=notification_id).order_by("received_at"):
        timeline.dead_letters.append(letter)
        events.append(TimelineEvent(letter.received_at.isoformat(), "admin", "dead letter", letter.reason[:200]))
        if letter.replayed_at:
            events.append(TimelineEvent(letter.replayed_at.isoformat(), "admin", f"replayed ({letter.replay_count}x)"))
    _webhook_events(timeline, notification_id)
    status = _fetch(
        timeline,
        "user_service",
        settings.USER_SERVICE_URL,
        USER_NOTIFICATION_STATUS_PATH.format(notification_id=notification_id),
    )
    if status:
        timeline.status = status
        for report in status.get("history") or []:
            events.append(
                TimelineEvent(
                    report.get("timestamp"), "user", f"status report: {report.get('status')}", report.get("error") or ""
                )
            )
    events.sort(key=_moment)
    return timeline


def _webhook_events(timeline: Timeline, notification_id: str) -> None:
    """The sender's status webhooks for this notification: each POST with the receiver's answer."""
    deliveries = _fetch(
        timeline,
        "api_gateway_service",
        settings.GATEWAY_SERVICE_URL,
        WEBHOOK_DELIVERIES_PATH,
        params={"notification_id": notification_id, "limit": 100},
    )
    for delivery in deliveries or []:
        timeline.webhook_deliveries.append(delivery)
        what = f"webhook {delivery.get('event')} to {delivery.get('url', '')}"
        attempts = delivery.get("history") or []
        if not attempts:
            timeline.events.append(
                TimelineEvent(delivery.get("created_at"), "gateway", what, delivery.get("state", ""))
            )
        for attempt in attempts:
            answer = " ".join(str(x) for x in (attempt.get("status_code"), attempt.get("error")) if x)
            timeline.events.append(TimelineEvent(attempt.get("at"), "gateway", what, answer))


def _moment(event: TimelineEvent) -> datetime:
    # The services spell UTC as "Z" or "+00:00": compare instants, not strings.
    try:
        return datetime.fromisoformat(event.at) if event.at else datetime.min.replace(tzinfo=UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
