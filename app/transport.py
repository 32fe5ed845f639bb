"""httpx's transport interface over one aiohttp session, cut down to what a delivery needs.

httpx_aiohttp's AiohttpTransport does the general job; per request it also opens an
exception-mapping context and builds a ClientTimeout, its read timeout keeps a timer per
open connection, and the request stays referenced while the receiver takes its time.
Here errors are mapped only when one happens, and a request without httpx's timeout
extension (what send_attempt sends, with one deadline around the whole exchange, body
included) gets no aiohttp timers at all. Responses are undecoded httpx.Response streams
as before: httpx decodes gzip/deflate and the caller caps how much it reads.
"""

from __future__ import annotations

from typing import Callable

import aiohttp
import httpx
from httpx_aiohttp.transport import AiohttpResponseStream, map_aiohttp_exceptions
from multidict import CIMultiDict

# What httpx can decode without optional packages; aiohttp would advertise br/zstd too if
# it could decode them, but it leaves decoding to httpx here.
ACCEPT_ENCODING = "gzip, deflate"
NO_DEADLINES = aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None)


class DeliveryTransport(httpx.AsyncBaseTransport):
    """`session` makes the aiohttp session, on the first request (it needs a running loop)."""

    def __init__(self, session: Callable[[], aiohttp.ClientSession]):
        self._make_session = session
        self._session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._make_session()
        body = await request.aread()
        sending = self._session.request(
            request.method, str(request.url), headers=_aiohttp_headers(request.headers), data=body or None,
            allow_redirects=False, auto_decompress=False, timeout=_deadlines(request.extensions.get("timeout")),
        )
        # aiohttp copies what it needs, and the receiver may take minutes to answer: the
        # request, its headers and their conversion are not kept meanwhile (~4 KB per
        # delivery in flight). AsyncClient.send sets response.request itself.
        del request, body
        try:
            response = await sending
        except Exception:
            with map_aiohttp_exceptions():
                raise
        return httpx.Response(response.status, headers=response.raw_headers, stream=AiohttpResponseStream(response))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _deadlines(timeout: dict | None) -> aiohttp.ClientTimeout:
    """httpx's per-phase timeouts when the request has them (AsyncClient always sets them)."""
    if timeout is None:
        return NO_DEADLINES
    return aiohttp.ClientTimeout(sock_connect=timeout.get("connect"), sock_read=timeout.get("read"),
                                 connect=timeout.get("pool"))


def _aiohttp_headers(headers: httpx.Headers) -> CIMultiDict[str]:
    converted = CIMultiDict(headers.multi_items())
    converted.setdefault("Accept-Encoding", ACCEPT_ENCODING)
    return converted

