"""DNS for deliveries: resolve, refuse if any address is forbidden, then connect to exactly
the addresses that were checked.

The guard sits inside aiohttp's connector, so the addresses it approves are the ones the
connection uses (no second lookup for a rebinding DNS server to answer differently), while
the URL's host name still goes into the Host header and TLS SNI.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from app.rules.netguard import forbidden_reason


class BlockedAddress(OSError):
    """The destination is not allowed; the attempt fails without a connection."""


class GuardedResolver(AbstractResolver):
    def __init__(self, allow_private_networks: tuple[str, ...], resolver: AbstractResolver | None = None):
        """`resolver` answers the DNS questions (the system's, through threads, by default)."""
        self.allowlist = allow_private_networks
        self._resolver = resolver or ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        for result in results:
            reason = forbidden_reason(ipaddress.ip_address(result["host"]), self.allowlist)
            if reason:
                raise BlockedAddress(f"{host} resolves to {reason}")
        return results

    async def close(self) -> None:
        await self._resolver.close()


def check_literal_host(host: str, allow_private_networks: tuple[str, ...]) -> None:
    """aiohttp does not resolve IP literals, so they are judged here before connecting."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return
    reason = forbidden_reason(address, allow_private_networks)
    if reason:
        raise BlockedAddress(reason)
