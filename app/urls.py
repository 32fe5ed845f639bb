"""Webhook URL rules, pure: checked when a webhook is saved.

This is the check at save time, on the URL's text: literal IP addresses (in any spelling
the resolver accepts) and `localhost` names. The addresses a hostname resolves to are
judged at send time by the delivery path (app/resolver.py), since DNS can change.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from app.netguard import forbidden_reason

MAX_URL_LENGTH = 2048
METADATA_NAMES = ("metadata.google.internal",)


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
    reason = forbidden_reason(address, allow_private_networks)
    if reason and "metadata" in reason:
        raise UrlRejected(f"{host} is a cloud metadata service and is never a webhook target")
    if reason:
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
