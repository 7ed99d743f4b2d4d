"""notification_common.client_ip: X-Forwarded-For is believed only from trusted proxies."""

import pytest
from django.test import RequestFactory, override_settings

from notification_common.client_ip import client_ip


def address_of(remote, forwarded=None, trusted=()):
    from django.conf import settings

    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    request = RequestFactory().get("/", **extra)
    with override_settings(NOTIFICATION_COMMON=dict(settings.NOTIFICATION_COMMON, TRUSTED_PROXIES=list(trusted))):
        return client_ip(request)


def test_without_trusted_proxies_the_peer_address_is_the_client():
    assert address_of("198.51.100.7", "203.0.113.9") == "198.51.100.7"


def test_a_forwarded_header_from_an_untrusted_peer_is_ignored():
    assert address_of("198.51.100.7", "203.0.113.9", trusted=["10.0.0.0/8"]) == "198.51.100.7"


def test_behind_a_trusted_proxy_the_forwarded_client_is_used():
    assert address_of("10.0.0.2", "203.0.113.9", trusted=["10.0.0.0/8"]) == "203.0.113.9"


def test_an_address_the_client_wrote_itself_is_never_reached():
    # The client sent "X-Forwarded-For: 1.2.3.4"; our proxy appended the real address.
    assert address_of("10.0.0.2", "1.2.3.4, 203.0.113.9", trusted=["10.0.0.2"]) == "203.0.113.9"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right():
    forwarded = "203.0.113.9, 10.1.0.5, 10.2.0.6"
    assert address_of("10.3.0.7", forwarded, trusted=["10.0.0.0/8"]) == "203.0.113.9"


def test_garbage_in_the_header_stops_at_the_last_trusted_hop():
    assert address_of("10.0.0.2", "not-an-ip, 10.0.0.9", trusted=["10.0.0.0/8"]) == "10.0.0.9"


def test_only_trusted_hops_gives_the_leftmost_one():
    assert address_of("10.0.0.2", "10.0.0.3", trusted=["10.0.0.0/8"]) == "10.0.0.3"


@pytest.mark.parametrize(("remote", "trusted"), [("::1", ["::1"]), ("2001:db8::7", ["2001:db8::/32"])])
def test_ipv6_proxies(remote, trusted):
    assert address_of(remote, "2001:db9::5", trusted=trusted) == "2001:db9::5"


def test_an_ipv4_network_never_matches_an_ipv6_peer():
    assert address_of("::1", "203.0.113.9", trusted=["127.0.0.0/8"]) == "::1"
