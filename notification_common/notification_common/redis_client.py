"""One Redis client per process (connection pool), from NOTIFICATION_COMMON["REDIS_URL"]."""

import threading

import redis

from notification_common.conf import common_settings

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def get_redis(url: str | None = None) -> redis.Redis:
    url = url or common_settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(
                    url, socket_connect_timeout=1.0, socket_timeout=1.0, health_check_interval=30
                )
                _clients[url] = client
    return client
