"""A guard that records every host a test's code tries to reach and blocks all but loopback.

Used to prove that nothing (e.g. google-auth's background "regional access boundary"
lookup) leaves the machine while the loopback FCM server is in use.
"""

import socket

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def guard_loopback_only(monkeypatch) -> list[str]:
    """Patch name resolution and connections; return the (growing) list of hosts asked for."""
    hosts: list[str] = []
    real_getaddrinfo, real_create_connection = socket.getaddrinfo, socket.create_connection

    def recording_getaddrinfo(host, *args, **kwargs):
        hosts.append(host)
        if host not in LOOPBACK_HOSTS:  # never reach the network from a test
            raise socket.gaierror(socket.EAI_NONAME, "blocked by test")
        return real_getaddrinfo(host, *args, **kwargs)

    def recording_create_connection(address, *args, **kwargs):
        hosts.append(address[0])
        if address[0] not in LOOPBACK_HOSTS:
            raise OSError("blocked by test")
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", recording_create_connection)
    return hosts
