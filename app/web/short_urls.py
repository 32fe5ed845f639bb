"""A webhook's URL as a list shows it: the host and the end of the path.

A tenant's webhooks often share a host and a long prefix
(`https://erp.example.com/api/v2/integrations/hookline/...`); cut at the end, as CSS
does, they all read the same. What tells them apart is the host and the last segments of
the path, so those stay and the middle gives way: `erp.example.com/…/orders/hook`. The
full URL is in the element's title and on the webhook's page.

`https://` is left out (it is the rule); `http://` is shown, since it is the exception a
reader should notice. Credentials in the URL are never part of the short form.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

ELLIPSIS = "…"
# Characters of path the short form keeps: the tail of a long URL fits the list's URL
# column at 1280 px (about 24 monospace characters) and a phone's card beside a typical host.
TAIL_LIMIT = 22


@dataclass(frozen=True)
class ShortUrl:
    origin: str  # "erp.example.com", "http://127.0.0.1:8080": the part a narrow cell may cut
    tail: str  # "/…/orders/hook", "/hook" or "": always shown whole

    def __str__(self) -> str:
        return self.origin + self.tail


def short_url(url: str, limit: int = TAIL_LIMIT) -> ShortUrl:
    """The host (with its port, and `http://` when it is not https) and as many of the
    path's last segments as fit in `limit` characters, `/…` standing for the rest; a last
    segment longer than `limit` keeps its end. A query string shows as `?…`."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:  # stored URLs are validated; a display filter still never raises
        return ShortUrl(url, "")
    if not host:
        return ShortUrl(url, "")
    origin = host if parts.scheme == "https" else f"{parts.scheme}://{host}"
    segments = [segment for segment in parts.path.split("/") if segment]
    kept: list[str] = []
    for segment in reversed(segments):
        if kept and len("/" + "/".join([segment, *kept])) > limit:
            break
        kept.insert(0, segment)
    tail = "/" + "/".join(kept) if kept else ""
    if len(tail) > limit:  # one long last segment: its end is what differs
        tail = "/" + ELLIPSIS + tail[-(limit - 2):]
    elif len(kept) < len(segments):
        tail = "/" + ELLIPSIS + tail
    if parts.path.endswith("/") and segments:
        tail += "/"
    if parts.query:
        tail += "?" + ELLIPSIS
    return ShortUrl(origin, tail)
