"""Parked outbox rows of the gateway: messages the broker kept refusing, set aside by the
relay so the rows behind them flow (docs/api_gateway.md, "Parked rows"). They live in the
gateway's database; the admin service lists them and replays them, once, through the
gateway's internal endpoints, and audits each replay like a dead-letter replay.
"""

import logging
import uuid

from notification_common.exceptions import NotFound
from platform_admin import clients
from platform_admin.constants import AuditAction
from platform_admin.services import actor_name, audit_record

logger = logging.getLogger(__name__)


def outbox_parked_list(*, page: int = 1, limit: int = 20) -> clients.UpstreamResult:
    return clients.outbox_parked_fetch(page=page, limit=limit)


def outbox_replay(*, notification_id, actor, ip: str | None = None) -> dict:
    """Ask the gateway to give a parked row back to its relay; audited when it did.

    The gateway's refusals are passed on as they are (404 unknown, 409 not parked or
    replayed before); nothing is audited for them, as for dead letters."""
    try:
        notification_id = str(uuid.UUID(str(notification_id)))
    except ValueError:
        raise NotFound("Outbox message not found.") from None
    row = clients.outbox_replay_request(notification_id=notification_id) or {}
    audit_record(
        actor=actor_name(actor),
        action=AuditAction.OUTBOX_REPLAYED,
        target=f"outbox:{notification_id}",
        details={
            "notification_id": notification_id,
            "routing_key": row.get("routing_key"),
            "replay_count": row.get("replay_count"),
            "last_error": (row.get("last_error") or "")[:300],
        },
        ip=ip,
    )
    logger.info("parked outbox message replayed", extra={"notification_id": notification_id})
    return row
