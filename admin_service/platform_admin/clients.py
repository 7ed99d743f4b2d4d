"""Calls to the other services (their contracts: docs/architecture.md).

Every call carries this service's internal API key (ServiceClient). An upstream 4xx
answer in the envelope is passed on as it is (same status, code and field errors), so
the operator sees the owning service's own validation; anything else is a 502/503.
"""

import threading

from django.conf import settings
from rest_framework import status

from notification_common.conf import common_settings
from notification_common.exceptions import ApplicationError, ErrorCode
from notification_common.http_client import ServiceClient
from notification_common.service_clients import service_client, template_client, user_client
from platform_admin.constants import AdminErrorCode

HEALTH_PATH = "/api/v1/health/"

USERS_PATH = "/api/v1/users/"
USER_PATH = "/api/v1/users/{user_id}/"
USER_NOTIFICATIONS_PATH = "/api/v1/users/{user_id}/notifications/"
USER_DEACTIVATE_PATH = "/api/v1/users/{user_id}/deactivate/"
USER_REACTIVATE_PATH = "/api/v1/users/{user_id}/reactivate/"
USER_STATS_PATH = "/api/v1/users/stats/"

TEMPLATES_PATH = "/api/v1/templates/"
TEMPLATE_PATH = "/api/v1/templates/{code}/"
TEMPLATE_VERSIONS_PATH = "/api/v1/templates/{code}/versions/"
TEMPLATE_ACTIVATE_PATH = "/api/v1/templates/{code}/versions/{version}/activate/"

GATEWAY_STATS_PATH = "/api/v1/notifications/stats/"
GATEWAY_OUTBOX_PARKED_PATH = "/api/v1/outbox/parked/"
GATEWAY_OUTBOX_REPLAY_PATH = "/api/v1/outbox/{notification_id}/replay/"
EMAIL_STATS_PATH = "/api/v1/emails/stats/"
PUSH_STATS_PATH = "/api/v1/pushes/stats/"


class UpstreamResult:
    def __init__(self, data, meta=None):
        self.data = data
        self.meta = meta


def _result(response, service: str) -> UpstreamResult:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApplicationError(
            AdminErrorCode.UPSTREAM_ERROR,
            f"{service} answered {response.status_code} without an envelope.",
            status.HTTP_502_BAD_GATEWAY,
        )
    if response.status_code < 300:
        return UpstreamResult(body.get("data"), body.get("meta"))
    if response.status_code in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN):
        # Our own service key was refused: a configuration problem, not the operator's.
        raise ApplicationError(
            AdminErrorCode.UPSTREAM_ERROR,
            f"{service} refused the admin service's API key ({response.status_code}).",
            status.HTTP_502_BAD_GATEWAY,
        )
    raise ApplicationError(
        body.get("error") or ErrorCode.VALIDATION_ERROR,
        body.get("message") or f"{service} refused the request.",
        response.status_code,
        data=body.get("data"),
    )


# -- user service -------------------------------------------------------------------------
def users_fetch(*, search: str = "", page: int = 1, limit: int = 20) -> UpstreamResult:
    params = {"page": page, "limit": limit}
    if search:
        params["search"] = search
    return _result(user_client().get(USERS_PATH, params=params), "user_service")


def user_fetch(*, user_id: str) -> dict:
    return _result(user_client().get(USER_PATH.format(user_id=user_id)), "user_service").data


def user_notifications_fetch(*, user_id: str, limit: int = 10) -> list:
    path = USER_NOTIFICATIONS_PATH.format(user_id=user_id)
    return _result(user_client().get(path, params={"limit": limit}), "user_service").data or []


def user_set_active(*, user_id: str, active: bool) -> dict:
    path = (USER_REACTIVATE_PATH if active else USER_DEACTIVATE_PATH).format(user_id=user_id)
    # Deactivating twice is harmless, so a lost answer may be retried.
    return _result(user_client().post(path, json={}, retry=True), "user_service").data


# -- template service ---------------------------------------------------------------------
def templates_fetch(*, params: dict) -> UpstreamResult:
    return _result(template_client().get(TEMPLATES_PATH, params=params), "template_service")


def template_fetch(*, code: str, params: dict | None = None) -> dict:
    return _result(template_client().get(TEMPLATE_PATH.format(code=code), params=params), "template_service").data


def template_versions_fetch(*, code: str, params: dict | None = None) -> UpstreamResult:
    path = TEMPLATE_VERSIONS_PATH.format(code=code)
    return _result(template_client().get(path, params=params), "template_service")


def template_create(*, payload: dict) -> dict:
    return _result(template_client().post(TEMPLATES_PATH, json=payload), "template_service").data


def template_version_create(*, code: str, payload: dict) -> dict:
    path = TEMPLATE_VERSIONS_PATH.format(code=code)
    return _result(template_client().post(path, json=payload), "template_service").data


def template_version_activate(*, code: str, version: int, language: str | None) -> dict:
    path = TEMPLATE_ACTIVATE_PATH.format(code=code, version=version)
    payload = {"language": language} if language else {}
    return _result(template_client().post(path, json=payload, retry=True), "template_service").data


# -- gateway: parked outbox rows (docs/api_gateway.md, "Parked rows") -----------------------
def gateway_client() -> ServiceClient:
    return service_client("api_gateway_service", settings.GATEWAY_SERVICE_URL)


def outbox_parked_fetch(*, page: int = 1, limit: int = 20) -> UpstreamResult:
    params = {"page": page, "limit": limit}
    return _result(gateway_client().get(GATEWAY_OUTBOX_PARKED_PATH, params=params), "api_gateway_service")


def outbox_replay_request(*, notification_id: str) -> dict:
    # Not retried: a lost answer to a replay that did happen would be refused as a second one.
    path = GATEWAY_OUTBOX_REPLAY_PATH.format(notification_id=notification_id)
    return _result(gateway_client().post(path, json={}), "api_gateway_service").data


# -- dashboard ------------------------------------------------------------------------------
_probe_lock = threading.Lock()
_probe_clients: dict[tuple[str, str], ServiceClient] = {}


def monitored_services() -> dict[str, str]:
    """Every service the dashboard watches, by name, with its base URL."""
    return {
        "api_gateway_service": settings.GATEWAY_SERVICE_URL,
        "user_service": settings.USER_SERVICE_URL,
        "template_service": settings.TEMPLATE_SERVICE_URL,
        "email_service": settings.EMAIL_SERVICE_URL,
        "push_service": settings.PUSH_SERVICE_URL,
        "admin_service": common_settings.ADMIN_SERVICE_URL,
    }


def probe_client(name: str, base_url: str) -> ServiceClient:
    """A client with short timeouts and no retries: the dashboard shows slow as down."""
    key = (name, base_url)
    client = _probe_clients.get(key)
    if client is None:
        timeout = settings.DASHBOARD_TIMEOUT_SECONDS
        with _probe_lock:
            client = _probe_clients.setdefault(
                key, ServiceClient(name, base_url, connect_timeout=timeout, read_timeout=timeout, retries=0)
            )
    return client


def health_fetch(*, name: str, base_url: str) -> dict:
    response = probe_client(name, base_url).get(HEALTH_PATH)
    body = response.json()
    return body.get("data") or {}


def stats_fetch(*, name: str, base_url: str, path: str) -> dict:
    return _result(probe_client(name, base_url).get(path), name).data or {}
