"""Which webhook URLs the gateway will POST to (docs/api.md, "Webhooks").

Outside development and test a URL must be HTTPS, and in production every address its host
resolves to must be public: loopback, private, link-local, reserved and unresolvable hosts
are refused, so a sender cannot make the gateway reach into its own network (SSRF). The
check runs when the endpoint is created and again before every POST (DNS may change).
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from notification_common.django_settings import DEVELOPMENT, PRODUCTION, TEST

URL_MAX_LENGTH = 2048


class WebhookUrlRefused(ValueError):
    pass


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookUrlRefused(f"The host {host!r} does not resolve.") from exc
    return sorted({info[4][0] for info in infos})


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def webhook_url_check(url: str, *, resolve=_resolve) -> str:
    """``url`` if the gateway may POST to it, else WebhookUrlRefused saying why."""
    if not isinstance(url, str) or not url or len(url) > URL_MAX_LENGTH:
        raise WebhookUrlRefused(f"Must be a URL of 1 to {URL_MAX_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlRefused("Must be a valid http(s) URL.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefused("Must be an http(s) URL with a host.")
    if parts.username or parts.password:
        raise WebhookUrlRefused("Must not carry credentials; authenticate with the signature instead.")
    if parts.fragment:
        raise WebhookUrlRefused("Must not have a fragment.")
    environment = settings.ENVIRONMENT
    if parts.scheme != "https" and environment not in (DEVELOPMENT, TEST):
        raise WebhookUrlRefused("Must use https.")
    if environment == PRODUCTION:
        addresses = resolve(parts.hostname, port or (443 if parts.scheme == "https" else 80))
        if not addresses:
            raise WebhookUrlRefused(f"The host {parts.hostname!r} does not resolve.")
        private = [address for address in addresses if not _is_public(address)]
        if private:
            raise WebhookUrlRefused(
                f"The host {parts.hostname!r} resolves to a non-public address ({', '.join(private)})."
            )
    return url
