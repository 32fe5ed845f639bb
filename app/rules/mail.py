"""Mail settings and addresses, pure: what `smtp_url` means, and what counts as an address.

`smtp_url` says how to reach the server in one value, as database_url does for the
database: `smtps://` is TLS from the first byte (port 465); `smtp://` with a user name
upgrades with STARTTLS before logging in (port 587), so a password never crosses in clear;
`smtp://host:25` without one is plain SMTP, for a relay on the same network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# Deliberately plain: one @, no spaces or angle brackets, a dotted domain. The server has
# the last word; this only catches typos and header injection before they are stored.
ADDRESS = re.compile(r"[^@\s<>,;\"']+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
MAX_ADDRESS_LENGTH = 254


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool  # smtps://

    @property
    def starttls(self) -> bool:
        return not self.implicit_tls and self.username is not None

    def __repr__(self) -> str:  # never the password, in a log or a traceback
        return f"SmtpServer({self.host}:{self.port}, user={self.username!r}, tls={self.implicit_tls or self.starttls})"


def parse_smtp_url(url: str) -> SmtpServer:
    """ValueError says what is wrong, without repeating the URL (it may hold a password)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("must start with smtp:// or smtps://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("names no host, e.g. smtp://user:password@mail.example.com:587")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be only smtp[s]://[user:password@]host[:port]")
    implicit = parts.scheme == "smtps"
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    default_port = 465 if implicit else 587 if username else 25
    return SmtpServer(parts.hostname, port or default_port, username, password, implicit)


def is_address(text: object) -> bool:
    return isinstance(text, str) and len(text) <= MAX_ADDRESS_LENGTH and bool(ADDRESS.fullmatch(text))
