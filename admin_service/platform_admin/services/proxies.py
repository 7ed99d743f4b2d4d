"""Audited actions the admin service takes on the other services (users, templates), through their
internal APIs."""

import logging

from platform_admin import clients
from platform_admin.constants import (
    AuditAction,
)
from platform_admin.services.audit import actor_name, audit_record

logger = logging.getLogger(__name__)


def user_deactivate(*, user_id: str, actor, ip: str | None = None) -> dict:
    user = clients.user_set_active(user_id=user_id, active=False)
    audit_record(actor=actor_name(actor), action=AuditAction.USER_DEACTIVATED, target=f"user:{user_id}", ip=ip)
    return user


def user_reactivate(*, user_id: str, actor, ip: str | None = None) -> dict:
    user = clients.user_set_active(user_id=user_id, active=True)
    audit_record(actor=actor_name(actor), action=AuditAction.USER_REACTIVATED, target=f"user:{user_id}", ip=ip)
    return user


def template_create(*, payload: dict, actor, ip: str | None = None) -> dict:
    template = clients.template_create(payload=payload)
    code = (template or {}).get("code") or payload.get("code", "")
    audit_record(
        actor=actor_name(actor),
        action=AuditAction.TEMPLATE_CREATED,
        target=f"template:{code}",
        details={"channel": payload.get("channel")},
        ip=ip,
    )
    return template


def template_version_create(*, code: str, payload: dict, actor, ip: str | None = None) -> dict:
    version = clients.template_version_create(code=code, payload=payload)
    audit_record(
        actor=actor_name(actor),
        action=AuditAction.TEMPLATE_VERSIONED,
        target=f"template:{code}",
        details={
            "language": (version or {}).get("language", payload.get("language")),
            "version": (version or {}).get("version"),
            "activate": bool(payload.get("activate")),
        },
        ip=ip,
    )
    return version


def template_version_activate(*, code: str, version: int, language: str | None, actor, ip: str | None = None) -> dict:
    result = clients.template_version_activate(code=code, version=version, language=language)
    audit_record(
        actor=actor_name(actor),
        action=AuditAction.TEMPLATE_ACTIVATED,
        target=f"template:{code}",
        details={"version": version, "language": language},
        ip=ip,
    )
    return result
