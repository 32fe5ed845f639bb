"""Forbidden destinations, judged on addresses: every listed range, tricky spellings, allowlist."""

from __future__ import annotations

import ipaddress

import pytest

from app.rules.netguard import forbidden_reason


@pytest.mark.parametrize(
    "address",
    [
        # one address from each forbidden IPv4 range
        "0.0.0.1", "10.1.2.3", "100.64.0.1", "127.0.0.1", "169.254.1.1", "172.16.0.1", "172.31.255.255",
        "192.0.0.192", "192.0.2.1", "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.51.100.1",
        "203.0.113.1", "224.0.0.1", "239.255.255.255", "240.0.0.1", "255.255.255.255",
        # IPv6: ::/8 (incl. mapped and compatible), NAT64 and 6to4 carrying private IPv4, the rest
        "::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::7f00:1", "64:ff9b::7f00:1", "64:ff9b:1::a00:1",
        "2001::1", "2001:db8::1", "2002:7f00:1::1", "2002:c0a8:101::1", "fc00::1", "fd12:3456::1",
        "fe80::1", "fec0::1", "ff02::1",
    ],
)
def test_forbidden(address):
    assert forbidden_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_are_allowed(address):
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "address, allowlist",
    [("127.0.0.1", ("127.0.0.0/8",)), ("::1", ("::1/128",)), ("10.2.3.4", ("10.0.0.0/8",)), ("::ffff:127.0.0.1", ("127.0.0.0/8",))],
)
def test_allowlist_opens_private_networks(address, allowlist):
    assert forbidden_reason(ipaddress.ip_address(address), allowlist) is None
    assert forbidden_reason(ipaddress.ip_address(address), ("192.168.0.0/16",)) is not None


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"])
def test_cloud_metadata_stays_blocked_even_when_allowlisted(address):
    reason = forbidden_reason(ipaddress.ip_address(address), ("0.0.0.0/0", "::/0", "169.254.0.0/16"))
    assert reason is not None and "metadata" in reason


def test_is_global_alone_would_be_wrong():
    """The addresses the standard library calls global that we must still refuse."""
    fooled = [a for a in ("64:ff9b::7f00:1", "2002:7f00:1::1", "::7f00:1", "fec0::1", "192.0.0.192", "224.0.0.1")
              if ipaddress.ip_address(a).is_global]
    assert fooled, "if ipaddress ever fixes these, this test documents why we did not rely on it"
    assert all(forbidden_reason(ipaddress.ip_address(a)) for a in fooled)
