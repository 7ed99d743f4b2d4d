"""The caller's address, the one way every service reads it (rate limits, audit, logins).

``X-Forwarded-For`` is believed only as far as it was written by proxies we trust
(``NOTIFICATION_COMMON["TRUSTED_PROXIES"]``: addresses or networks, env ``TRUSTED_PROXIES``).
Walking the header from the right, each trusted hop vouches for the address to its left;
the first address that is not a trusted proxy is the client. Anything a client writes into
the header itself sits further left and is never reached, so it cannot pick its own key.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from notification_common.conf import common_settings

__all__ = ["client_ip"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in trusted if entry.strip())


def _address(value: str):
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address, networks: tuple[_Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_ip(request) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or what trusted proxies forwarded for it."""
    remote = request.META.get("REMOTE_ADDR") or None
    networks = _networks(tuple(common_settings.TRUSTED_PROXIES or ()))
    remote_address = _address(remote) if remote else None
    if remote_address is None or not networks or not _trusted(remote_address, networks):
        return remote
    hop = remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for entry in reversed([part for part in forwarded.split(",") if part.strip()]):
        address = _address(entry)
        if address is None:
            return hop  # garbage where an address should be: stop at the last hop we could trust
        if not _trusted(address, networks):
            return str(address)
        hop = str(address)
    return hop
