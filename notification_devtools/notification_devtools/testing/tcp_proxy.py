"""A loopback TCP proxy in front of a real server, which a test can cut and restore.

Point a service at the proxy (its database PORT, its Redis URL) and ``cut()`` it: the open
connections are dropped and new ones refused, so the service sees a real outage of PostgreSQL
or Redis while the shared servers keep running for everyone else. ``restore()`` brings the
path back on the same port. Fixtures ``database_proxy``, ``redis_proxy`` and
``rabbitmq_proxy`` wire a Django process to it (loaded by testing/pytest_plugin.py).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

_BUFFER = 64 * 1024


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``cut(refuse=True)`` drops every connection and
    refuses new ones (the server is down), ``cut(refuse=False)`` accepts and closes at once
    (the server is dying); ``restore()`` forwards again."""

    def __init__(self, target_host: str, target_port: int, *, port: int = 0):
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = port
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._accepting = False
        self._closed = False
        self.accepted = 0
        self._listen()

    # ------------------------------------------------------------------ control
    def cut(self, *, refuse: bool = True) -> None:
        """Drop every open connection; new ones are refused (or accepted and closed at once)."""
        with self._lock:
            self._accepting = False
            if refuse:
                self._stop_listening()
            open_sockets, self._sockets = self._sockets, set()
        for sock in open_sockets:
            _close(sock)

    def restore(self) -> None:
        with self._lock:
            self._accepting = True
            if self._listener is None:
                self._listen_locked()

    def close(self) -> None:
        self._closed = True
        self.cut()

    @property
    def is_cut(self) -> bool:
        return not self._accepting

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing
    def _listen(self) -> None:
        with self._lock:
            self._accepting = True
            self._listen_locked()

    def _listen_locked(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))  # the same port again after a refusing cut
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), name="tcp-proxy-accept", daemon=True).start()

    def _stop_listening(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            _close(listener)

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed by cut() or close()
            with self._lock:
                accepting = self._accepting and not self._closed
            if not accepting:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if not self._accepting:
                    _close(client)
                    _close(upstream)
                    continue
                self._sockets.update((client, upstream))
                self.accepted += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), name="tcp-proxy-pump", daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(_BUFFER)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def _url_through(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    credentials = f"{netloc[0]}@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{credentials}{proxy.host}:{proxy.port}"))


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def database_proxy(transactional_db) -> Iterator[TcpProxy]:
    """The default database reached through a proxy for the rest of the test.

    New connections (the live server's, one per request; the test's own after this) go
    through the proxy; the test's data is committed (``transactional_db``) so every
    connection sees it.
    """
    from django.db import connections

    connection = connections["default"]
    settings_dict = connection.settings_dict  # shared by every thread's connection to this alias
    original = (settings_dict["HOST"], settings_dict["PORT"])
    proxy = TcpProxy(original[0] or "127.0.0.1", int(original[1] or 5432))
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = proxy.host, str(proxy.port)
    try:
        yield proxy
    finally:
        settings_dict["HOST"], settings_dict["PORT"] = original
        connections.close_all()
        proxy.close()


@pytest.fixture
def redis_proxy() -> Iterator[TcpProxy]:
    """This process's Redis (NOTIFICATION_COMMON["REDIS_URL"] and Redis caches) through a proxy.

    The settings are put back when this fixture ends, so fixtures set up before it clean up
    against the real server.
    """
    from django.conf import settings
    from django.core.cache import caches
    from django.test import override_settings

    from notification_common.conf import common_settings
    from notification_common.redis_client import get_redis

    url = common_settings.REDIS_URL
    target = urlsplit(url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    proxied = _url_through(url, proxy)
    caches_conf = {name: dict(conf) for name, conf in settings.CACHES.items()}
    for conf in caches_conf.values():
        if conf["BACKEND"].endswith("RedisCache"):
            conf["LOCATION"] = proxied
    override = override_settings(
        NOTIFICATION_COMMON={**settings.NOTIFICATION_COMMON, "REDIS_URL": proxied}, CACHES=caches_conf
    )
    override.enable()
    common_settings.reload()
    try:
        yield proxy
    finally:
        get_redis(proxied).connection_pool.disconnect()
        for cache in caches.all(initialized_only=True):
            cache.close()
        override.disable()
        common_settings.reload()
        proxy.close()


@pytest.fixture
def rabbitmq_proxy() -> Iterator[TcpProxy]:
    """This process's broker (NOTIFICATION_COMMON["RABBITMQ_URL"]) through a proxy."""
    from django.conf import settings
    from django.test import override_settings

    from notification_common.conf import common_settings

    url = common_settings.RABBITMQ_URL
    target = urlsplit(url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5672)
    override = override_settings(
        NOTIFICATION_COMMON={**settings.NOTIFICATION_COMMON, "RABBITMQ_URL": _url_through(url, proxy)}
    )
    override.enable()
    common_settings.reload()
    try:
        yield proxy
    finally:
        override.disable()
        common_settings.reload()
        proxy.close()
