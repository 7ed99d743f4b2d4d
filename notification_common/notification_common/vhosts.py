"""Create RabbitMQ virtual hosts: ``notifications`` for running, ``notifications_test`` for tests.

Used by ``make infra`` and the test plugin. Tries ``rabbitmqctl`` (same machine), then the
management HTTP API (a broker in a container), and says clearly when neither works.
"""

import os
import shutil
import subprocess
from urllib.parse import quote, unquote, urlparse

import requests


def vhost_of(url: str) -> str:
    path = urlparse(url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def ensure_vhost(url: str) -> str:
    """Make sure the vhost named in ``url`` exists and its user may use it. Returns the vhost."""
    parsed = urlparse(url)
    vhost = vhost_of(url)
    user = unquote(parsed.username or "guest")
    password = unquote(parsed.password or "guest")
    if vhost == "/":
        return vhost
    if _can_connect(url):
        return vhost
    rabbitmqctl = shutil.which("rabbitmqctl") or (
        "/usr/sbin/rabbitmqctl" if os.path.exists("/usr/sbin/rabbitmqctl") else None
    )
    if rabbitmqctl and os.geteuid() == 0:
        subprocess.run([rabbitmqctl, "-q", "add_vhost", vhost], capture_output=True, timeout=60)
        subprocess.run(
            [rabbitmqctl, "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
            capture_output=True,
            timeout=60,
            check=True,
        )
        return vhost
    api = os.environ.get("RABBITMQ_MANAGEMENT_URL", f"http://{parsed.hostname or '127.0.0.1'}:15672")
    auth = (os.environ.get("RABBITMQ_ADMIN_USER", user), os.environ.get("RABBITMQ_ADMIN_PASSWORD", password))
    try:
        requests.put(f"{api}/api/vhosts/{quote(vhost, safe='')}", auth=auth, timeout=10).raise_for_status()
        requests.put(
            f"{api}/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
            auth=auth,
            timeout=10,
        ).raise_for_status()
    except requests.RequestException as exc:
        raise RuntimeError(
            f"Cannot create RabbitMQ vhost {vhost!r}: run as root beside rabbitmqctl, or enable the "
            f"management plugin at {api} ({exc})"
        ) from exc
    return vhost


def _can_connect(url: str) -> bool:
    from notification_common.rabbitmq.connection import connect

    try:
        connect(url, heartbeat=0, socket_timeout=3).close()
        return True
    except Exception:
        return False
