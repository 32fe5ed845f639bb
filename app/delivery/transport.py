"""httpx's transport interface over one aiohttp session, cut down to what a delivery needs.

httpx_aiohttp's AiohttpTransport does the general job; per request it also opens an
exception-mapping context and builds a ClientTimeout, its read timeout keeps a timer per
open connection, and the request stays referenced while the receiver takes its time.
Here errors are mapped only when one happens, and a request without httpx's timeout
extension (what send_attempt sends, with one deadline around the whole exchange, body
included) gets no aiohttp timers at all. Responses are undecoded httpx.Response streams
as before: httpx decodes gzip/deflate and the caller caps how much it reads.

The mapping is our own, because what a receiver sends is anything at all: aiohttp
reports a broken answer as a ClientResponseError or ClientPayloadError over one of its
parser's exceptions, and a receiver that hangs up as ServerDisconnectedError, which
httpx_aiohttp passes on unmapped or as a ConnectTimeout ("timed out" for a receiver that
answered at once). Each becomes an httpx exception whose message says what was wrong
with the answer, without the receiver's bytes or our request's headers.
"""

from __future__ import annotations

from typing import AsyncIterator, Callable

import aiohttp
import httpx
from aiohttp import http_exceptions
from multidict import CIMultiDict

# What httpx can decode without optional packages; aiohttp would advertise br/zstd too if
# it could decode them, but it leaves decoding to httpx here.
ACCEPT_ENCODING = "gzip, deflate"
NO_DEADLINES = aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None)
CHUNK_BYTES = 16 * 1024

NOT_HTTP = "not an HTTP response"
INVALID_STATUS_LINE = "invalid status line"
HEADERS_TOO_LARGE = "response headers too large"
INVALID_HEADER = "invalid response header"
MALFORMED_BODY = "malformed body"
CLOSED_BEFORE_RESPONSE = "connection closed before a response"


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
            # A contract that drops User-Agent (null) sends none, not aiohttp's.
            skip_auto_headers=None if "user-agent" in request.headers else _NO_USER_AGENT,
        )
        # aiohttp copies what it needs, and the receiver may take minutes to answer: the
        # request, its headers and their conversion are not kept meanwhile (~4 KB per
        # delivery in flight). AsyncClient.send sets response.request itself.
        del request, body
        try:
            response = await sending
        except aiohttp.ClientError as exc:
            if (mapped := _httpx_error(exc, CLOSED_BEFORE_RESPONSE)) is None:
                raise
            raise mapped from exc
        return httpx.Response(response.status, headers=response.raw_headers, stream=ResponseStream(response))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class ResponseStream(httpx.AsyncByteStream):
    """The body as aiohttp reads it, with its errors mapped like the request's."""

    def __init__(self, response: aiohttp.ClientResponse):
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(CHUNK_BYTES):
                yield chunk
        except (aiohttp.ClientError, http_exceptions.HttpProcessingError) as exc:  # the latter: the Python parser's
            if (mapped := _httpx_error(exc, f"{MALFORMED_BODY}: the connection closed before its end")) is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        self._response.release()
        await self._response.wait_for_close()


def _httpx_error(
    exc: aiohttp.ClientError | http_exceptions.HttpProcessingError, disconnected: str
) -> httpx.HTTPError | None:
    """The httpx exception for an aiohttp one; `disconnected` says what a receiver that
    hung up cut short. None for anything unforeseen, which goes on as it is."""
    if isinstance(exc, (aiohttp.ClientResponseError, aiohttp.ClientPayloadError, http_exceptions.HttpProcessingError)):
        return httpx.RemoteProtocolError(_answer_error(exc))
    if isinstance(exc, aiohttp.ServerTimeoutError):  # only with httpx's per-phase timeouts
        timeout = httpx.ConnectTimeout if isinstance(exc, aiohttp.ConnectionTimeoutError) else httpx.ReadTimeout
        return timeout(str(exc))
    if isinstance(exc, aiohttp.ClientConnectorError):  # DNS, refused, TLS: the OS error under it says which
        return httpx.ConnectError(str(exc))
    if isinstance(exc, aiohttp.ClientConnectionError):
        if isinstance(exc, OSError) and exc.errno:  # a reset, a broken pipe: its errno says which
            return httpx.ReadError(str(exc))
        # The receiver hung up: before answering (ServerDisconnectedError), or while the
        # request was still being written ("Can not write request body", errno None).
        return httpx.RemoteProtocolError(disconnected)
    if isinstance(exc, (aiohttp.NonHttpUrlClientError, aiohttp.InvalidUrlClientError)):
        return httpx.UnsupportedProtocol(str(exc))
    return None


def _answer_error(exc: Exception) -> str:
    """What was wrong with the answer, from the parser's exception under aiohttp's wrappers.

    Both of aiohttp's parsers (C, and pure Python without its extensions) raise
    BadStatusLine for a first line that is not `HTTP/x.y NNN`; only the words tell an
    answer that is not HTTP at all from a bad status code: the C parser says "Expected
    HTTP/" and leaves `line` empty, the Python one gives `line`. The C parser also reports
    a bad chunk or too many headers as a plain BadHttpMessage, and a chunked body cut
    short as the TransferEncodingError of a bad one, told apart by their words.
    """
    errors = [c for c in _causes(exc) if isinstance(c, http_exceptions.HttpProcessingError)]
    # aiohttp wraps the parser's exception in a plain HttpProcessingError: the last is the parser's
    error = errors[-1] if errors else None
    message = error.message if error is not None and isinstance(error.message, str) else ""
    if isinstance(error, http_exceptions.BadStatusLine):
        not_http = (error.line and not error.line.startswith("HTTP/")) or "Expected HTTP/" in message
        return NOT_HTTP if not_http else INVALID_STATUS_LINE
    if isinstance(error, http_exceptions.LineTooLong) or "Too many headers" in message:
        return HEADERS_TOO_LARGE
    if isinstance(error, http_exceptions.InvalidHeader):
        return INVALID_HEADER
    if isinstance(error, http_exceptions.ContentLengthError):
        return f"{MALFORMED_BODY}: shorter than its Content-Length"
    if isinstance(error, http_exceptions.TransferEncodingError) and message.startswith("Not enough data"):
        return f"{MALFORMED_BODY}: cut short before its last chunk"
    if isinstance(error, http_exceptions.TransferEncodingError) or "chunk" in message.lower():
        return f"{MALFORMED_BODY}: invalid chunked encoding"
    if isinstance(exc, aiohttp.ClientPayloadError) or isinstance(error, http_exceptions.PayloadEncodingError):
        return MALFORMED_BODY
    if not message:
        return "invalid response"
    # The parser's words, up to its excerpt of what it read, which stays out of the log
    # (printable ASCII only, should a parser quote the receiver there).
    words = message.splitlines()[0].rstrip(": ")[:100]
    return f"invalid response: {''.join(c if ' ' <= c <= '~' else '?' for c in words)}"


def _causes(exc: BaseException):
    cause: BaseException | None = exc
    while cause is not None:
        yield cause
        cause = cause.__cause__ or cause.__context__


def _deadlines(timeout: dict | None) -> aiohttp.ClientTimeout:
    """httpx's per-phase timeouts when the request has them (AsyncClient always sets them)."""
    if timeout is None:
        return NO_DEADLINES
    return aiohttp.ClientTimeout(sock_connect=timeout.get("connect"), sock_read=timeout.get("read"),
                                 connect=timeout.get("pool"))


_NO_USER_AGENT = ("User-Agent",)


def _aiohttp_headers(headers: httpx.Headers) -> CIMultiDict[str]:
    converted = CIMultiDict(headers.multi_items())
    converted.setdefault("Accept-Encoding", ACCEPT_ENCODING)
    return converted
