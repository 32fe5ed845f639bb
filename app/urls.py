"""Webhook URL rules, pure: checked when a webhook is saved.

This is the text-level check. Judging the addresses a hostname resolves to, at send time,
belongs to the delivery path (see the hardening issue); here literal IP addresses and
`localhost` names are refused unless an allowlisted network covers them.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
METADATA_NAMES = ("metadata.google.internal",)
# Cloud instance metadata (AWS, GCP, Azure; AWS over IPv6): never allowlistable.
METADATA_ADDRESSES = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))


class UrlRejected(ValueError):
    pass


def check_webhook_url(url: object, allow_http: bool, allow_private_networks: tuple[str, ...]) -> str:
    if not isinstance(url, str) or not url.strip():
        raise UrlRejected("required: the https URL that receives the events")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise UrlRejected(f"longer than {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    allowed_schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed_schemes:
        if parts.scheme == "http":
            raise UrlRejected("must use https (plain http is off; set allow_http to allow it)")
        raise UrlRejected("must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise UrlRejected("must not contain credentials; use custom headers or the signature instead")
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlRejected("must include a host name")
    try:
        parts.port
    except ValueError:
        raise UrlRejected("has an invalid port") from None
    if parts.fragment:
        raise UrlRejected("must not contain a #fragment")
    _check_host(host, allow_private_networks)
    return url


def _check_host(host: str, allow_private_networks: tuple[str, ...]) -> None:
    host = host.removesuffix(".")  # "localhost." names the same host as "localhost"
    if host in METADATA_NAMES:
        raise UrlRejected(f"{host} is a cloud metadata service and is never a webhook target")
    if host == "localhost" or host.endswith(".localhost"):
        address = ipaddress.ip_address("127.0.0.1")
    else:
        address = _literal_address(host)
        if address is None:
            return
    if address in METADATA_ADDRESSES:
        raise UrlRejected(f"{host} is a cloud metadata service and is never a webhook target")
    if not address.is_global and not _allowlisted(address, allow_private_networks):
        raise UrlRejected(f"{host} is a private or reserved address; add its network to allow_private_networks to deliver there")


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host *text* denotes without DNS, including the legacy IPv4 spellings
    (`127.1`, `2130706433`, `0x7f.0.0.1`) that the system resolver also accepts."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _allowlisted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[str, ...]) -> bool:
    return any(address in ipaddress.ip_network(net, strict=False) for net in networks)
