"""Which IP addresses a webhook may reach, pure. Judged on resolved addresses, not URL text.

`ipaddress.is_global` alone is wrong for several of these (it calls `64:ff9b::7f00:1`,
`2002:7f00:1::1`, `::7f00:1`, `fec0::1`, `192.0.0.192` and `224.0.0.1` global), so the
ranges are listed explicitly, and IPv6 forms that carry an IPv4 address are judged by the
IPv4 address they carry.
"""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

FORBIDDEN_V4 = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
))
FORBIDDEN_V6 = tuple(ipaddress.ip_network(n) for n in (
    "::/8", "64:ff9b::/96", "64:ff9b:1::/48", "2001::/23", "2001:db8::/32", "2002::/16",
    "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
))
# Cloud instance metadata: never a target, whatever allow_private_networks says.
METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
# Prefixes that carry an IPv4 address: judged by the address they carry.
CARRIERS = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16"))


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: mapped, compatible, 6to4 or NAT64."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if any(address in net for net in CARRIERS) or int(address) >> 32 == 0:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: Address, allowlist: tuple[str, ...] = ()) -> str | None:
    """Why `address` must not be contacted, or None if it may be."""
    inner = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    if address in METADATA or inner in METADATA:
        return f"{address} is a cloud metadata address"
    if _allowed(address, allowlist) or (inner is not None and _allowed(inner, allowlist)):
        return None
    if isinstance(address, ipaddress.IPv4Address):
        blocked = any(address in net for net in FORBIDDEN_V4)
    elif any(address in net for net in CARRIERS):
        blocked = forbidden_reason(inner, allowlist) is not None
    else:
        blocked = any(address in net for net in FORBIDDEN_V6)  # ::/8 covers mapped and compatible forms
    return f"{address} is a private or reserved address" if blocked else None


def _allowed(address: Address, allowlist: tuple[str, ...]) -> bool:
    return any(address in ipaddress.ip_network(net, strict=False) for net in allowlist)
