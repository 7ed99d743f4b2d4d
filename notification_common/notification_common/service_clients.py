"""One ServiceClient per other service per process, built from settings.

Services name their targets in settings (``USER_SERVICE_URL`` ...); this module only
caches the clients so connections and circuit breakers are shared within a process.
"""

import threading

from django.conf import settings

from notification_common.conf import common_settings
from notification_common.http_client import ServiceClient

_lock = threading.Lock()
_clients: dict[tuple[str, str], ServiceClient] = {}


def service_client(name: str, base_url: str) -> ServiceClient:
    key = (name, base_url)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.setdefault(key, ServiceClient(name, base_url))
    return client


def admin_client() -> ServiceClient:
    return service_client("admin_service", common_settings.ADMIN_SERVICE_URL)


def user_client() -> ServiceClient:
    return service_client("user_service", settings.USER_SERVICE_URL)


def template_client() -> ServiceClient:
    return service_client("template_service", settings.TEMPLATE_SERVICE_URL)


def reset_clients() -> None:
    """Forget cached clients (tests that change URLs or break circuits)."""
    with _lock:
        _clients.clear()
