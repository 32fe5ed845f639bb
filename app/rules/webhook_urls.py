"""Webhook URL rules, pure: checked when a webhook is saved.

This is the check at save time, on the URL's text: literal IP addresses (in any spelling
the resolver accepts) and `localhost` names. The addresses a hostname resolves to are
judged at send time by the delivery path (app/delivery/resolver.py), since DNS can change.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit, urlunsplit

import idna

from app.rules.netguard import forbidden_reason

MAX_URL_LENGTH = 2048
METADATA_NAMES = ("metadata.google.internal",)


# Letters, digits, hyphens and (seen in internal DNS) underscores, 1-63 per label.
_ASCII_HOST = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*\.?$")


class UrlRejected(ValueError):
    pass


def _wanted(allow_http: bool) -> str:
    """What a URL must be, as the errors say it: naming only https when http is allowed
    sent people who typed a typo'd http URL in a dev setup off to add an "s"."""
    return "an http:// or https:// URL" if allow_http else "an https:// URL"


def check_webhook_url(url: object, allow_http: bool, allow_private_networks: tuple[str, ...]) -> str:
    if not isinstance(url, str) or not url.strip():
        raise UrlRejected(f"required: {_wanted(allow_http)} that receives the events")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise UrlRejected(f"longer than {MAX_URL_LENGTH} characters")
    # urlsplit silently drops tabs and newlines, and a space or CR/LF would otherwise reach
    # the request line: refuse them instead of guessing what was meant.
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise UrlRejected("must not contain spaces or control characters (encode a space in the path as %20)")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UrlRejected(f"is not a valid URL ({exc})") from None
    allowed_schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed_schemes:
        if parts.scheme == "http":
            raise UrlRejected("must use https (plain http is off; set allow_http to allow it)")
        raise UrlRejected(f"must be {_wanted(allow_http)}")
    if parts.username is not None or parts.password is not None:
        raise UrlRejected("must not contain credentials; use custom headers or the signature instead")
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlRejected("must include a host name")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise UrlRejected("has an invalid port: it must be between 1 and 65535")
    if parts.fragment:
        raise UrlRejected("must not contain a #fragment")
    ascii_host = _ascii_host(host)
    _check_host(ascii_host, allow_private_networks)
    if ascii_host != host:
        url = urlunsplit(parts._replace(netloc=ascii_host + (f":{parts.port}" if parts.port else "")))
    return url


def _ascii_host(host: str) -> str:
    """The host as DNS sees it. International names become their xn-- form (IDNA 2008,
    UTS 46), so the stored URL shows exactly which host is called: a look-alike Cyrillic
    "е" in "еxample.com" is plainly "xn--xample-2of.com"."""
    if _literal_address(host) is not None:
        return host
    if host.isascii() and "xn--" not in host:
        if not _ASCII_HOST.match(host):
            raise UrlRejected(f"host name {host!r} is not valid (letters, digits, hyphens and dots)")
        return host
    try:
        return idna.encode(host.removesuffix("."), uts46=True).decode() + ("." if host.endswith(".") else "")
    except idna.IDNAError as exc:
        raise UrlRejected(f"host name {host!r} is not a valid international domain name ({exc})") from None


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
