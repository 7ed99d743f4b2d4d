"""Writes of the admin service, by topic: audit, admin accounts, API keys, dead letters, and
audited actions on the other services. Reads are in selectors.py; the dashboard in
dashboard.py. Callers use ``services.<name>``: the names below are the package's interface."""

from platform_admin.services.admin_accounts import admin_create, admin_login, admin_token_refresh
from platform_admin.services.api_keys import (
    api_key_check,
    api_key_create,
    api_key_lookup,
    api_key_register_bootstrap,
    api_key_register_bootstrap_after_migrate,
    api_key_revoke,
    api_key_rotate,
    api_key_usage_flush,
    api_key_usage_record,
    api_key_verify,
)
from platform_admin.services.audit import SYSTEM_ACTOR, actor_name, admin_site_login_audit, audit_record
from platform_admin.services.dead_letters import (
    dead_letter_record,
    dead_letter_record_reduced,
    dead_letter_replay,
    dead_letters_replay,
)
from platform_admin.services.proxies import (
    template_create,
    template_version_activate,
    template_version_create,
    user_deactivate,
    user_reactivate,
)

__all__ = [
    "SYSTEM_ACTOR",
    "actor_name",
    "admin_create",
    "admin_login",
    "admin_site_login_audit",
    "admin_token_refresh",
    "api_key_check",
    "api_key_create",
    "api_key_lookup",
    "api_key_register_bootstrap",
    "api_key_register_bootstrap_after_migrate",
    "api_key_revoke",
    "api_key_rotate",
    "api_key_usage_flush",
    "api_key_usage_record",
    "api_key_verify",
    "audit_record",
    "dead_letter_record",
    "dead_letter_record_reduced",
    "dead_letter_replay",
    "dead_letters_replay",
    "template_create",
    "template_version_activate",
    "template_version_create",
    "user_deactivate",
    "user_reactivate",
]
