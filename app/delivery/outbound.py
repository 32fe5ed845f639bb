"""One delivery attempt over HTTP: the shared client, the signed POST, and a reason a
person can act on when it fails. No database here: the dispatcher claims and records."""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import socket
import ssl
import time
from datetime import datetime

import aiohttp
import httpx

from app.config import Settings
from app.delivery.policy import Failure, parse_retry_after
from app.delivery.resolver import BlockedAddress, GuardedResolver, check_literal_host
from app.delivery.signed_request import build_request
from app.delivery.signing import CannotSign
from app.delivery.transport import MALFORMED_BODY, DeliveryTransport
from app.delivery.types import MAX_RESPONSE_BODY_CHARS, AttemptResult, ClaimedDelivery
from app.rules.header_rules import header_problem

# Read at most this much of a response: enough for the log, and a hostile receiver cannot
# make us buffer gigabytes.
MAX_RESPONSE_READ_BYTES = 16 * 1024


class DeliveryClient(httpx.AsyncClient):
    """An httpx client that keeps the transport it was built with, for send_attempt to send
    through directly: AsyncClient.send's layers (redirects, auth, cookies, event hooks,
    logging) do nothing for a delivery but cost more CPU than the transport and aiohttp
    together, and httpx has no public way to get a client's transport back."""

    def __init__(self, transport: httpx.AsyncBaseTransport, **options):
        super().__init__(transport=transport, **options)
        self.transport = transport


def build_client(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> DeliveryClient:
    """The httpx API over aiohttp's connection handling (app/delivery/transport.py).

    httpx's own transport costs ~1.8 ms of CPU per request and made sending the bottleneck:
    the end-to-end benchmark (now bench/throughput.py) measured 326 deliveries/s at 3.4 ms
    CPU each with it, and 635/s at 1.6 ms with httpx_aiohttp's AiohttpTransport (2,000
    events x 5 webhooks, 2 cores); DeliveryTransport then took send_attempt from ~0.28 to
    ~0.12 ms of client CPU per request (bench/ceilings.py) and from 27 to 20 KB per request
    in flight. The connector resolves through GuardedResolver, which refuses private and
    reserved addresses. Redirects are never followed: a 3xx is a failed attempt, not a hop
    to a new target. No cookies are kept: what one receiver sets is not sent with the next
    delivery (nor stored for ever by a receiver that sets a new one each time).
    """
    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=settings.max_concurrency,
            resolver=GuardedResolver(settings.allow_private_networks),
            ssl=httpx.create_ssl_context(),
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)

    return DeliveryClient(
        transport or DeliveryTransport(session),
        follow_redirects=False,
        timeout=httpx.Timeout(settings.request_timeout),
        trust_env=False,
    )


async def send_attempt(
    transport: httpx.AsyncBaseTransport, claimed: ClaimedDelivery, body: bytes, settings: Settings,
    started_at: datetime,
) -> AttemptResult:
    """One signed POST of `body`, as its webhook's contract says (app/delivery/signed_request.py);
    every failure the receiver or the webhook's row can cause becomes an AttemptResult (the
    dispatcher catches anything else)."""
    if claimed.contract.headers and (refused := _refused_header(claimed, started_at)):
        return refused
    timestamp = int(started_at.timestamp())
    timeout = settings.request_timeout if claimed.timeout is None else claimed.timeout
    try:
        headers = build_request(claimed.contract, claimed.signing_keys(started_at), claimed.message, timestamp,
                                claimed.attempts + 1, body).headers
    except CannotSign as exc:
        return AttemptResult(started_at, 0, {}, error=f"cannot sign: {exc}", failure=Failure.CANNOT_SIGN)
    began = time.perf_counter()
    status_code = retry_after = response_text = error = failure = None
    try:
        url = _destination(claimed.url, settings.allow_private_networks)
        async with asyncio.timeout(timeout):
            response = await transport.handle_async_request(
                httpx.Request("POST", url, headers=headers, content=body)
            )
            try:
                status_code = response.status_code
                if status_code >= 300:  # a success is not retried
                    retry_after = parse_retry_after(response.headers.get("retry-after"), started_at)
                response_text = await _read_prefix(response)
            finally:
                await response.aclose()
    except TimeoutError:
        error, failure = f"timed out after {timeout:g}s", Failure.TIMEOUT
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        error, failure = f"invalid URL: {exc}", Failure.INVALID_URL
    except (BlockedAddress, httpx.HTTPError) as exc:
        failure, error = _describe(exc, timeout)
    duration_ms = round((time.perf_counter() - began) * 1000)
    return AttemptResult(
        started_at=started_at,
        duration_ms=duration_ms,
        request_headers=headers,
        status_code=status_code,
        response_body=response_text,
        error=error,
        retry_after=retry_after,
        failure=failure,
    )


def _refused_header(claimed: ClaimedDelivery, started_at: datetime) -> AttemptResult | None:
    """A failed attempt if a custom header breaks the rules: saved before they were strict,
    it would otherwise crash the send. Only the name is told, never the value."""
    for name, value in claimed.contract.headers.items():
        if problem := header_problem(name, value):
            return AttemptResult(started_at, 0, {}, error=f"invalid header: {str(name)[:64]!r} {problem}; "
                                 "correct the webhook's headers", failure=Failure.INVALID_HEADER)
    return None


@functools.lru_cache(maxsize=4096)
def _destination(url: str, allow_private_networks: tuple[str, ...]) -> httpx.URL:
    """The parsed URL, refused if its host is a forbidden IP literal. Both depend on the
    arguments alone, so each webhook's URL is parsed once, not at every attempt."""
    parsed = httpx.URL(url)
    check_literal_host(parsed.host, allow_private_networks)
    return parsed


TRUNCATED = "… [truncated]"


async def _read_prefix(response: httpx.Response) -> str:
    """The start of the body, decoded (gzip included) as it streams: a 10 MB answer or a
    gzip bomb costs at most MAX_RESPONSE_READ_BYTES, and the log says it was cut. A NUL
    becomes U+FFFD like any undecodable byte: PostgreSQL's text refuses NUL, and with it
    the group commit of every attempt recorded beside this one."""
    if response.status_code == 204 or response.headers.get("content-length") == "0":
        return ""  # the usual answer, without setting up httpx's decoding stream for nothing
    received = bytearray()
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) >= MAX_RESPONSE_READ_BYTES:
            break
    text = received.decode("utf-8", errors="replace")
    if "\0" in text:
        text = text.replace("\0", "\ufffd")
    if len(text) > MAX_RESPONSE_BODY_CHARS:
        return text[: MAX_RESPONSE_BODY_CHARS - len(TRUNCATED)] + TRUNCATED
    return text


def _describe(exc: Exception, timeout: float) -> tuple[Failure, str]:
    """What went wrong, and a short reason a person can act on, from the OS error under
    the wrappers if any."""
    if isinstance(exc, httpx.RemoteProtocolError):
        return Failure.PROTOCOL, str(exc)  # the transport's words on the answer (app/delivery/transport.py)
    if isinstance(exc, httpx.DecodingError):
        return Failure.PROTOCOL, f"{MALFORMED_BODY}: cannot be decoded as its Content-Encoding says"
    causes = list(_causes(exc))
    # TLS first: aiohttp's wrappers of an ssl error are OSErrors with a meaningless errno.
    tls = [cause for cause in causes if isinstance(cause, ssl.SSLError)]
    if tls:
        verify = getattr(tls[-1], "verify_message", None)
        reason = "certificate verify failed: " + verify if verify else tls[-1].reason or tls[-1]
        return Failure.CONNECTION, f"TLS error: {reason}"
    for cause in causes:
        if isinstance(cause, BlockedAddress):
            return Failure.BLOCKED, (f"blocked: {cause}; Hookline does not deliver to private networks unless "
                                     "allow_private_networks covers them")
        if isinstance(cause, socket.gaierror):
            return Failure.CONNECTION, f"could not resolve host: {cause.strerror}"
        if isinstance(cause, aiohttp.ClientConnectorDNSError) and not isinstance(cause.os_error, BlockedAddress):
            return Failure.CONNECTION, f"could not resolve host: {cause.os_error.strerror or cause.os_error}"
        if isinstance(cause, OSError) and cause.errno:
            if cause.errno == errno.ECONNREFUSED:
                return Failure.CONNECTION, "connection refused"
            return Failure.CONNECTION, f"connection failed: {os.strerror(cause.errno)}"
    if isinstance(exc, httpx.TimeoutException):
        return Failure.TIMEOUT, f"timed out after {timeout:g}s"
    return Failure.CONNECTION, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _causes(exc: BaseException):
    cause: BaseException | None = exc
    while cause is not None:
        yield cause
        cause = cause.__cause__ or cause.__context__
