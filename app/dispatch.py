"""The sender: claim due deliveries, POST them concurrently, record every attempt.

One `Dispatcher` per process, sharing one `httpx.AsyncClient`. A sweep claims no more
rows than there are free send slots, starts a task per delivery and returns; the tasks
record their own results. Sweeps run on the scheduler's tick, and `wake()` starts one at
once when an event is emitted or a slot frees up while work was waiting, so the first
attempt does not wait for the next tick.

Each webhook also has its own limits, so one slow or hanging receiver cannot hold every
slot: at most `max_in_flight` sends at once (default `max_in_flight_per_webhook`) and at
most `rate_limit` per second. A sweep never claims more for a webhook than it may send
now; the rest stays pending for a later sweep, woken when a slot frees or a token refills.
These limits are per process: N processes may send N times as much to one webhook.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import random as random_module
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import aiohttp
import anyio.to_thread
import httpx
from httpx_aiohttp import AiohttpTransport

from app import __version__
from app.clock import Clock, system_clock
from app.config import Settings
from app.metrics import Metrics
from app.pacing import TokenBucket
from app.policy import parse_retry_after
from app.resolver import BlockedAddress, GuardedResolver, check_literal_host
from app.services.delivery_queue import (
    MAX_RESPONSE_BODY_CHARS,
    AttemptResult,
    ClaimedDelivery,
    claim_due,
    record_results,
    release_claims,
)
from app.signing import signature_headers

log = logging.getLogger("hookline.dispatch")

USER_AGENT = f"Hookline/{__version__}"
# Read at most this much of a response: enough for the log, and a hostile receiver cannot
# make us buffer gigabytes.
MAX_RESPONSE_READ_BYTES = 16 * 1024
# After a failed claim (the database locked or down), the sweeps of the next 1, 2, 4 … 30
# seconds skip claiming: a tick per second would otherwise log a failure per second.
CLAIM_BACKOFF_MAX_SECONDS = 30


def build_client(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The httpx API over aiohttp's connection handling.

    httpx's own transport costs ~1.8 ms of CPU per request and made sending the bottleneck:
    the end-to-end benchmark (now bench/throughput.py) measured 326 deliveries/s at 3.4 ms
    CPU each with it, and 635/s at 1.6 ms with AiohttpTransport (2,000 events x 5 webhooks,
    2 cores). Its connector resolves through GuardedResolver, which refuses private and
    reserved addresses. Redirects are never followed: a 3xx is a failed attempt, not a hop
    to a new target.
    """
    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=settings.max_concurrency,
            resolver=GuardedResolver(settings.allow_private_networks),
            ssl=httpx.create_ssl_context(),
        )
        return aiohttp.ClientSession(connector=connector, trust_env=False)

    return httpx.AsyncClient(
        transport=transport or AiohttpTransport(client=session),
        follow_redirects=False,
        timeout=httpx.Timeout(settings.request_timeout),
        trust_env=False,
    )


@dataclass
class _Pace:
    """What this process sends to one webhook: kept while it has sends in flight or its
    rate-limit bucket is refilling (a full bucket is no different from a new one)."""

    cap: int
    sending: int = 0
    bucket: TokenBucket | None = None

    def quota(self, now: float) -> int:
        free = self.cap - self.sending
        return free if self.bucket is None else min(free, self.bucket.available(now))

    def idle(self, now: float) -> bool:
        return self.sending == 0 and (self.bucket is None or self.bucket.is_full(now))


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        client: httpx.AsyncClient,
        clock: Clock = system_clock,
        random: Callable[[], float] = random_module.random,
        metrics: Metrics | None = None,
    ):
        self.settings = settings
        self.metrics = metrics or Metrics(clock)
        self.client = client
        self.clock = clock
        self.random = random
        self._in_flight: set[asyncio.Task] = set()  # one task per send, until it is recorded
        self._claimed: dict[str, ClaimedDelivery] = {}  # claims whose result is not recorded yet
        self._background: set[asyncio.Task] = set()  # sweeps started by wake(), the recorder
        self._unrecorded: list[tuple[ClaimedDelivery, AttemptResult, asyncio.Future]] = []
        self._recording = False
        self._stopping = False
        self._sweeping = False
        self._sweep_again = False
        self._sweep_started = False
        self._saturated = False
        self._paces: dict[str, _Pace] = {}  # by webhook id
        self._sending = 0  # sends not yet recorded; a slot frees before its task ends
        self._offered: set[str] = set()  # webhooks the claim in progress may take more of
        self._refill_wake: asyncio.TimerHandle | None = None
        self._claim_failures = 0  # in a row
        self._claim_retry_at: datetime | None = None

    async def sweep(self) -> int:
        """Start sending whatever is due, as far as free slots allow; returns how many started."""
        if self._sweeping or self._stopping:
            self._sweep_again = True
            return 0
        self._sweeping = True
        started = 0
        now = self.clock()
        try:
            while True:
                self._sweep_again = False
                free = self.settings.max_concurrency - self._sending
                self._saturated = free <= 0
                if self._saturated:
                    break
                wanted = min(free, self.settings.sweep_batch_size)
                now = self.clock()
                if self._claims_paused(now):
                    break
                quotas = self._quotas(now.timestamp())
                self._offered = {webhook_id for webhook_id, n in quotas.items() if n > 0}
                try:
                    batch = await anyio.to_thread.run_sync(
                        claim_due, now, wanted, self.settings.lease_seconds,
                        self.settings.max_in_flight_per_webhook, quotas,
                    )
                except Exception as exc:
                    # e.g. the database is unavailable: nothing was claimed
                    self._claim_failed(now, exc)
                    break
                finally:
                    self._offered = set()
                if self._claim_failures:
                    log.info("claiming again after %d failed claims", self._claim_failures)
                    self._claim_failures, self._claim_retry_at = 0, None
                for claimed in batch:
                    self._claimed[claimed.id] = claimed
                    self._pace_claimed(claimed, now.timestamp())
                    task = asyncio.create_task(self._deliver(claimed))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
                started += len(batch)
                if len(batch) < wanted and not self._sweep_again:
                    break
        finally:
            self._sweeping = False
            self._wake_at_next_token(now.timestamp())
        return started

    def _claims_paused(self, now: datetime) -> bool:
        """Backing off. A clock that jumped back makes the wait longer than any backoff: that
        ends it rather than stretching it by the jump."""
        wait = 0 if self._claim_retry_at is None else (self._claim_retry_at - now).total_seconds()
        return 0 < wait <= CLAIM_BACKOFF_MAX_SECONDS

    def _claim_failed(self, now: datetime, exc: Exception) -> None:
        self._claim_failures += 1
        delay = min(2 ** (self._claim_failures - 1), CLAIM_BACKOFF_MAX_SECONDS)
        self._claim_retry_at = now + timedelta(seconds=delay)
        log.error("could not claim due deliveries (%d failed in a row): %s; next try in %ds",
                  self._claim_failures, exc, delay, exc_info=self._claim_failures == 1)

    def _quotas(self, now: float) -> dict[str, int]:
        """How many more each webhook we know may take now; forget the idle ones, whose
        quota the claim query works out from the webhook row alone."""
        for webhook_id in [w for w, pace in self._paces.items() if pace.idle(now)]:
            del self._paces[webhook_id]
        return {webhook_id: pace.quota(now) for webhook_id, pace in self._paces.items()}

    def _pace_claimed(self, claimed: ClaimedDelivery, now: float) -> None:
        pace = self._paces.setdefault(claimed.webhook_id, _Pace(cap=0))
        # An ordered webhook sends one at a time; a full pace also wakes a sweep when its
        # send is recorded, which is when the next event becomes claimable.
        pace.cap = 1 if claimed.ordered else claimed.max_in_flight or self.settings.max_in_flight_per_webhook
        pace.sending += 1
        self._sending += 1
        if not claimed.rate_limit:
            pace.bucket = None
            return
        if pace.bucket is None:
            pace.bucket = TokenBucket.full(claimed.rate_limit, now)
        pace.bucket.rate = claimed.rate_limit
        pace.bucket.take(now)

    def _wake_at_next_token(self, now: float) -> None:
        """Sweep again when a rate-limited webhook can send, rather than polling for it.
        `now` is the time the last claim was sized at: a bucket that filled up during the
        claim still held work back. Once a bucket is full it is forgotten, and the
        wake-ups stop."""
        if self._stopping:
            return
        waits = [p.bucket.seconds_until_token(now) for p in self._paces.values() if p.bucket and not p.bucket.is_full(now)]
        if not waits:
            return
        loop = asyncio.get_running_loop()
        at = loop.time() + min(waits)
        if self._refill_wake is not None:
            if self._refill_wake.when() <= at:
                return
            self._refill_wake.cancel()
        self._refill_wake = loop.call_at(at, self._wake_after_refill)

    def _wake_after_refill(self) -> None:
        self._refill_wake = None
        self.wake()

    def wake(self) -> None:
        """Sweep now (from the event loop's thread): something may have become due."""
        if self._sweeping:
            self._sweep_again = True
        elif not self._sweep_started:
            # One sweep for a burst of wake-ups (a recorded group of sends wakes once per
            # send): the extra ones would only make the running sweep claim again.
            self._sweep_started = True
            self._start_background(self._woken_sweep())

    async def _woken_sweep(self) -> None:
        self._sweep_started = False
        await self.sweep()

    def _start_background(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def shutdown(self, timeout: float) -> None:
        """Stop claiming, give the sends in flight `timeout` seconds to finish, then hand
        back the claims left (cut off, or not recorded): pending again at once, so another
        process sends them now instead of after their lease runs out."""
        self._stopping = True
        if self._refill_wake is not None:
            self._refill_wake.cancel()
        await self.drain(timeout)
        if self._claimed:
            claims, self._claimed = list(self._claimed.values()), {}
            released = await anyio.to_thread.run_sync(release_claims, claims, self.clock())
            log.warning("shutting down: released %d unfinished deliveries for another sweep", released)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for in-flight sends (and sweeps they trigger); cancel what is left at `timeout`.

        A cancelled send keeps its lease, so another sweep resends it after the lease ends.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while pending := self._in_flight | self._background:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return
            await asyncio.wait(pending, timeout=remaining)

    async def _deliver(self, claimed: ClaimedDelivery) -> None:
        try:
            result = await self.send(claimed)
            recorded = asyncio.get_running_loop().create_future()
            self._unrecorded.append((claimed, result, recorded))
            if not self._recording:
                self._recording = True
                self._start_background(self._record_unrecorded())
            if await recorded != "unrecorded":
                self._claimed.pop(claimed.id, None)  # else shutdown hands it back
        finally:
            # The slot frees once the outcome is stored: an ordered webhook's next event
            # becomes claimable only then.
            pace = self._paces[claimed.webhook_id]
            was_full = pace.sending >= pace.cap
            pace.sending -= 1
            self._sending -= 1
        # A claim running now may have sized this webhook's quota before the slot freed:
        # it must look again, or work held back by the cap would wait for the next tick.
        if self._saturated or was_full or claimed.webhook_id in self._offered:
            self.wake()

    async def _record_unrecorded(self) -> None:
        """Record results in groups: whatever finished while the last group was being
        written goes into the next transaction, so commits never queue up behind sends."""
        try:
            while self._unrecorded:
                group, self._unrecorded = self._unrecorded, []
                try:
                    statuses = await anyio.to_thread.run_sync(
                        record_results, [(c, r) for c, r, _ in group], self.clock(), self.settings, self.random
                    )
                except Exception:
                    # The leases stay on the rows, so they are sent again once the leases expire.
                    log.exception("could not record %d attempts", len(group))
                    statuses = ["unrecorded"] * len(group)
                for (claimed, result, recorded), status in zip(group, statuses):
                    log.info("delivery %s to %s: attempt %d %s (%s)", claimed.id, claimed.webhook_id,
                             claimed.attempts + 1, status, result.status_code or result.error)
                    self.metrics.attempt_recorded(status, result.duration_ms / 1000)
                    if not recorded.done():
                        recorded.set_result(status)
        finally:
            self._recording = False

    async def send(self, claimed: ClaimedDelivery) -> AttemptResult:
        """One signed POST; every failure becomes an AttemptResult, never an exception."""
        started_at = self.clock()
        timestamp = int(started_at.timestamp())
        timeout = self.settings.request_timeout if claimed.timeout is None else claimed.timeout
        headers = {
            **claimed.headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signature_headers(claimed.secret, claimed.event_id, claimed.event_type, timestamp, claimed.body,
                                older=claimed.older_secrets(started_at)),
        }
        began = time.perf_counter()
        status_code = retry_after = response_text = error = None
        permanent = False
        try:
            check_literal_host(httpx.URL(claimed.url).host, self.settings.allow_private_networks)
            async with asyncio.timeout(timeout):
                async with self.client.stream(
                    "POST", claimed.url, content=claimed.body, headers=headers, timeout=timeout
                ) as response:
                    status_code = response.status_code
                    retry_after = parse_retry_after(response.headers.get("retry-after"), started_at)
                    response_text = await _read_prefix(response)
        except TimeoutError:
            error = f"timed out after {timeout:g}s"
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            error, permanent = f"invalid URL: {exc}", True
        except (BlockedAddress, httpx.HTTPError) as exc:
            error = _describe(exc, timeout)
            permanent = error.startswith("blocked:")
        duration_ms = round((time.perf_counter() - began) * 1000)
        return AttemptResult(
            started_at=started_at,
            duration_ms=duration_ms,
            request_headers=headers,
            status_code=status_code,
            response_body=response_text,
            error=error,
            retry_after=retry_after,
            permanent=permanent,
        )


TRUNCATED = "… [truncated]"


async def _read_prefix(response: httpx.Response) -> str:
    """The start of the body, decoded (gzip included) as it streams: a 10 MB answer or a
    gzip bomb costs at most MAX_RESPONSE_READ_BYTES, and the log says it was cut."""
    received = bytearray()
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) >= MAX_RESPONSE_READ_BYTES:
            break
    text = received.decode("utf-8", errors="replace")
    if len(text) > MAX_RESPONSE_BODY_CHARS:
        return text[: MAX_RESPONSE_BODY_CHARS - len(TRUNCATED)] + TRUNCATED
    return text


def _describe(exc: Exception, timeout: float) -> str:
    """A short reason a person can act on, from the OS error under the wrappers if any
    (the aiohttp transport reports a refused connection as a ConnectTimeout)."""
    causes = list(_causes(exc))
    # TLS first: aiohttp's wrappers of an ssl error are OSErrors with a meaningless errno.
    tls = [cause for cause in causes if isinstance(cause, ssl.SSLError)]
    if tls:
        verify = getattr(tls[-1], "verify_message", None)
        return f"TLS error: {'certificate verify failed: ' + verify if verify else tls[-1].reason or tls[-1]}"
    for cause in causes:
        if isinstance(cause, BlockedAddress):
            return f"blocked: {cause}; Hookline does not deliver to private networks unless allow_private_networks covers them"
        if isinstance(cause, socket.gaierror):
            return f"could not resolve host: {cause.strerror}"
        if isinstance(cause, aiohttp.ClientConnectorDNSError) and not isinstance(cause.os_error, BlockedAddress):
            return f"could not resolve host: {cause.os_error.strerror or cause.os_error}"
        if isinstance(cause, OSError) and cause.errno:
            if cause.errno == errno.ECONNREFUSED:
                return "connection refused"
            return f"connection failed: {os.strerror(cause.errno)}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g}s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _causes(exc: BaseException):
    cause: BaseException | None = exc
    while cause is not None:
        yield cause
        cause = cause.__cause__ or cause.__context__
