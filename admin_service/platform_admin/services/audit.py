"""The audit log: every admin action and login, with who, what, target and address."""

import logging

from platform_admin.constants import (
    AuditAction,
)
from platform_admin.models import AuditEntry

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"


def audit_record(*, actor: str, action: str, target: str = "", details: dict | None = None, ip: str | None = None):
    return AuditEntry.objects.create(
        actor=(actor or SYSTEM_ACTOR)[:150], action=action, target=str(target)[:255], details=details or {}, ip=ip
    )


def actor_name(user) -> str:
    return user.get_username() if user is not None else SYSTEM_ACTOR


def admin_site_login_audit(*, username: str, succeeded: bool, ip: str | None, target: str = "") -> None:
    """Logins through the Django admin site's form, audited like the API's."""
    audit_record(
        actor=(username or "").strip().lower() if not succeeded else username,
        action=AuditAction.LOGIN_SUCCEEDED if succeeded else AuditAction.LOGIN_FAILED,
        target=target,
        details={"via": "admin_site"} if succeeded else {"via": "admin_site", "reason": "bad_credentials"},
        ip=ip,
    )
