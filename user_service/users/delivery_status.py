"""Delivery status reports applied to the notification log as sets, not one by one.

A batch of reports for one channel takes three statements in one transaction, whatever its
size: read the logs it touches, upsert the logs with the ordering rule in SQL, insert the
events. The rule (docs/user_service.md, "Delivery status rules") is a total order on
``(is_final, timestamp)``: a report's status replaces the current one only when its key is
greater. So applying a batch in any order, or racing another batch, ends in the same state,
and the upsert evaluates the rule against the row as it is when it takes the row's lock.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from rest_framework import status as http

from notification_common.exceptions import ApplicationError, ErrorCode
from users.constants import DeliveryStatus, StatusOutcome, UserErrorCode
from users.models import NotificationLog, NotificationStatusEvent
from users.sql import fetch_prepared

MAX_ERROR_LENGTH = 5000


@dataclass(frozen=True)
class StatusReport:
    notification_id: uuid.UUID
    status: str
    timestamp: datetime
    error: str = ""
    user_id: uuid.UUID | None = None
    attempt: int | None = None
    metadata: dict = field(default_factory=dict)

    @classmethod
    def from_validated(cls, data: dict) -> StatusReport:
        """A report from an API's validated input."""
        return cls(
            notification_id=data["notification_id"],
            status=data["status"],
            timestamp=data["timestamp"],
            # Long SMTP transcripts are cut, not refused: the report must not be lost.
            error=(data.get("error") or "")[:MAX_ERROR_LENGTH],
            user_id=data.get("user_id"),
            attempt=data.get("attempt"),
            metadata=data.get("metadata") or {},
        )

    @property
    def key(self) -> tuple[bool, datetime]:
        """Ordering key: a final status beats pending; within a class, the newer wins."""
        return (self.status != DeliveryStatus.PENDING, self.timestamp)

    @property
    def attempts(self) -> int:
        if self.attempt is not None:
            return self.attempt
        return 0 if self.status == DeliveryStatus.PENDING else 1


@dataclass(frozen=True)
class StatusRecordResult:
    notification_id: uuid.UUID
    outcome: str
    status: str

    def as_data(self) -> dict:
        return {"notification_id": str(self.notification_id), "outcome": self.outcome, "status": self.status}


@dataclass(frozen=True)
class InvalidReport:
    """An item of a report list that did not validate: answered as rejected, never applied.
    ``notification_id`` is the one sent (None when the item names none or is not an object)."""

    errors: dict
    notification_id: object = None
    item_is_object: bool = True


@dataclass
class _Current:
    """A log row as the batch sees it, advanced report by report to label each outcome."""

    status: str
    timestamp: datetime

    @property
    def key(self) -> tuple[bool, datetime]:
        return (self.status != DeliveryStatus.PENDING, self.timestamp)


def _channel_mismatch(notification_id: uuid.UUID, channel: str) -> ApplicationError:
    return ApplicationError(
        UserErrorCode.CHANNEL_MISMATCH,
        f"Notification {notification_id} is a {channel} notification.",
        http.HTTP_409_CONFLICT,
        data={"channel": [f"expected {channel}"]},
    )


_LOG = NotificationLog._meta.db_table
_EVENT = NotificationStatusEvent._meta.db_table
_FINAL_NEW = f"(EXCLUDED.status <> '{DeliveryStatus.PENDING}', EXCLUDED.last_timestamp)"
_FINAL_OLD = f"(l.status <> '{DeliveryStatus.PENDING}', l.last_timestamp)"
_SUPERSEDES = f"{_FINAL_NEW} > {_FINAL_OLD}"

# Plain SQL, as the two statements below: building the ORM query cost more CPU than running it.
# All three run prepared (users/sql.py).
_READ_LOGS = f"SELECT notification_id, channel, status, last_timestamp FROM {_LOG} WHERE notification_id = ANY(%s)"

# One row per notification: the batch's winning report, its highest attempt, first user id.
# The update runs only when something changes, so an exact repeat leaves updated_at alone.
_UPSERT_LOGS = f"""
INSERT INTO {_LOG} AS l
    (notification_id, user_id, channel, status, error, attempts, last_timestamp, created_at, updated_at)
SELECT r.notification_id, r.user_id, %s, r.status, r.error, r.attempts, r.last_timestamp, now(), now()
FROM jsonb_to_recordset(%s::jsonb) AS r(
    notification_id uuid, user_id uuid, status text, error text, attempts integer, last_timestamp timestamptz)
ORDER BY r.notification_id
ON CONFLICT (notification_id) DO UPDATE SET
    status = CASE WHEN {_SUPERSEDES} THEN EXCLUDED.status ELSE l.status END,
    error = CASE WHEN {_SUPERSEDES} THEN EXCLUDED.error ELSE l.error END,
    last_timestamp = CASE WHEN {_SUPERSEDES} THEN EXCLUDED.last_timestamp ELSE l.last_timestamp END,
    attempts = GREATEST(l.attempts, EXCLUDED.attempts),
    user_id = COALESCE(l.user_id, EXCLUDED.user_id),
    updated_at = now()
WHERE l.channel = EXCLUDED.channel
  AND ({_SUPERSEDES} OR EXCLUDED.attempts > l.attempts OR (l.user_id IS NULL AND EXCLUDED.user_id IS NOT NULL))
RETURNING l.notification_id, l.xmax = 0
"""

# Every distinct report is history; an exact repeat (same log, status, timestamp) is not
# inserted again, and RETURNING tells which ones were new.
_INSERT_EVENTS = f"""
INSERT INTO {_EVENT} AS e (log_id, status, timestamp, error, attempt, metadata, received_at)
SELECT l.id, r.status, r.timestamp, r.error, r.attempt, r.metadata, now()
FROM jsonb_to_recordset(%s::jsonb) AS r(
    notification_id uuid, status text, timestamp timestamptz, error text, attempt integer, metadata jsonb, ord integer)
JOIN {_LOG} l ON l.notification_id = r.notification_id AND l.channel = %s
ORDER BY r.ord
ON CONFLICT (log_id, status, timestamp) DO NOTHING
RETURNING (SELECT notification_id FROM {_LOG} WHERE id = e.log_id), e.status, e.timestamp
"""


def _winners(reports: list[StatusReport]) -> list[dict]:
    """Per notification: the report with the greatest key (first of equals), the highest
    attempt and the first user id, as JSON-ready rows for the upsert."""
    rows: dict[uuid.UUID, dict] = {}
    for report in reports:
        row = rows.get(report.notification_id)
        if row is None:
            rows[report.notification_id] = row = {
                "report": report,
                "attempts": report.attempts,
                "user_id": report.user_id,
            }
            continue
        if report.key > row["report"].key:
            row["report"] = report
        row["attempts"] = max(row["attempts"], report.attempts)
        row["user_id"] = row["user_id"] or report.user_id
    return [
        {
            "notification_id": str(notification_id),
            "user_id": str(row["user_id"]) if row["user_id"] else None,
            "status": row["report"].status,
            "error": row["report"].error,
            "attempts": row["attempts"],
            "last_timestamp": row["report"].timestamp.isoformat(),
        }
        for notification_id, row in sorted(rows.items(), key=lambda item: item[0])
    ]


def _event_rows(reports: list[tuple[int, StatusReport]]) -> list[dict]:
    return [
        {
            "notification_id": str(report.notification_id),
            "status": report.status,
            "timestamp": report.timestamp.isoformat(),
            "error": report.error,
            "attempt": report.attempt,
            "metadata": report.metadata or {},
            "ord": index,
        }
        for index, report in reports
    ]


@transaction.atomic
def notification_status_record_batch(
    *, channel: str, reports: list[StatusReport]
) -> list[StatusRecordResult | ApplicationError]:
    """Apply delivery reports for one channel; one result (or refusal) per report, in order.

    A report for a notification logged under the other channel is refused with
    ``channel_mismatch``; the others are applied. Safe under concurrent batches.
    """
    if not reports:
        return []
    ids = sorted({report.notification_id for report in reports})
    existing = {
        notification_id: {"channel": channel, "status": status, "last_timestamp": last_timestamp}
        for notification_id, channel, status, last_timestamp in fetch_prepared(_READ_LOGS, [ids])
    }
    results: list[StatusRecordResult | ApplicationError | None] = [None] * len(reports)
    accepted: list[tuple[int, StatusReport]] = []
    for index, report in enumerate(reports):
        log = existing.get(report.notification_id)
        if log is not None and log["channel"] != channel:
            results[index] = _channel_mismatch(report.notification_id, log["channel"])
        else:
            accepted.append((index, report))
    if not accepted:
        return results

    events = _event_rows(accepted)
    upserted = fetch_prepared(_UPSERT_LOGS, [channel, json.dumps(_winners([report for _, report in accepted]))])
    # xmax = 0: this statement inserted the row (not seen by the read above, and not created
    # by a concurrent batch either).
    created = {uuid.UUID(str(nid)) for nid, was_inserted in upserted if was_inserted}
    new_events = fetch_prepared(_INSERT_EVENTS, [json.dumps(events), channel])
    inserted = {(uuid.UUID(str(nid)), status, ts) for nid, status, ts in new_events}

    current: dict[uuid.UUID, _Current] = {
        notification_id: _Current(log["status"], log["last_timestamp"]) for notification_id, log in existing.items()
    }
    for index, report in accepted:
        state = current.get(report.notification_id)
        event_key = (report.notification_id, report.status, report.timestamp)
        if event_key not in inserted:
            outcome = StatusOutcome.DUPLICATE
        elif state is None:
            current[report.notification_id] = state = _Current(report.status, report.timestamp)
            # Not created here: a concurrent batch created the row between our read and our
            # upsert; the stored state is right (the rule ran in SQL), only the label is ours.
            outcome = StatusOutcome.CREATED if report.notification_id in created else StatusOutcome.UPDATED
        elif report.key > state.key:
            state.status, state.timestamp = report.status, report.timestamp
            outcome = StatusOutcome.UPDATED
        else:
            outcome = StatusOutcome.RECORDED
        inserted.discard(event_key)  # a second identical report in this batch is a duplicate
        status = state.status if state is not None else report.status
        results[index] = StatusRecordResult(report.notification_id, outcome, status)
    return results


def notification_status_record(*, channel: str, report: StatusReport) -> StatusRecordResult:
    """Apply one delivery report; raises ``channel_mismatch`` (409) for the other channel."""
    (result,) = notification_status_record_batch(channel=channel, reports=[report])
    if isinstance(result, ApplicationError):
        raise result
    return result


def notification_status_record_list(*, channel: str, items: list[StatusReport | InvalidReport]) -> dict:
    """A batching worker's list of reports, answered per item in order: ``{"accepted",
    "rejected", "results": [{"index", ...}]}``. The valid reports are applied as one batch; the
    invalid ones and channel mismatches are rejected. Raises ``validation_error`` (400, with the
    answer as data) when no report was accepted.
    """
    results: list[dict | None] = [None] * len(items)
    valid: list[tuple[int, StatusReport]] = []
    for index, item in enumerate(items):
        if isinstance(item, StatusReport):
            valid.append((index, item))
        elif item.item_is_object:
            results[index] = {
                "index": index,
                "notification_id": item.notification_id,
                "outcome": StatusOutcome.REJECTED,
                "errors": item.errors,
            }
        else:
            results[index] = {"index": index, "outcome": StatusOutcome.REJECTED, "errors": item.errors}
    # The valid reports in one set-based transaction (three statements for any count).
    recorded = notification_status_record_batch(channel=channel, reports=[report for _, report in valid])
    for (index, report), result in zip(valid, recorded, strict=True):
        if isinstance(result, ApplicationError):
            results[index] = {
                "index": index,
                "notification_id": str(report.notification_id),
                "outcome": StatusOutcome.REJECTED,
                "error": result.code,
                "errors": result.data,
            }
        else:
            results[index] = {"index": index, **result.as_data()}
    accepted = sum(1 for result in results if result["outcome"] != StatusOutcome.REJECTED)
    data = {"accepted": accepted, "rejected": len(results) - accepted, "results": results}
    if not accepted:
        raise ApplicationError(ErrorCode.VALIDATION_ERROR, "No report in the list was valid.", data=data)
    return data
