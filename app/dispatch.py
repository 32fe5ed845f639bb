"""The sender: claim due deliveries, POST them concurrently, record every attempt.

One `Dispatcher` per process, sharing one `httpx.AsyncClient`. A sweep claims no more
rows than there are free send slots, starts a task per delivery and returns; the tasks
record their own results. Sweeps run on the scheduler's tick, and `wake()` starts one at
once when an event is emitted or a slot frees up while work was waiting, so the first
attempt does not wait for the next tick.
"""

from __future__ import annotations

import asyncio
import logging
import random as random_module
import socket
import time
from typing import Callable

import anyio.to_thread
import httpx

from app import __version__
from app.clock import Clock, system_clock
from app.config import Settings
from app.policy import RetryPolicy, parse_retry_after
from app.services.delivery_queue import (
    MAX_RESPONSE_BODY_CHARS,
    AttemptResult,
    ClaimedDelivery,
    claim_due,
    record_result,
)
from app.signing import signature_headers

log = logging.getLogger("hookline.dispatch")

USER_AGENT = f"Hookline/{__version__}"
# Read at most this much of a response: enough for the log, and a hostile receiver cannot
# make us buffer gigabytes.
MAX_RESPONSE_READ_BYTES = 16 * 1024


def build_client(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """Redirects are never followed: a 3xx is a failed attempt, not a hop to a new target."""
    return httpx.AsyncClient(
        transport=transport,
        follow_redirects=False,
        timeout=httpx.Timeout(settings.request_timeout),
        limits=httpx.Limits(max_connections=settings.max_concurrency, max_keepalive_connections=settings.max_concurrency),
        trust_env=False,
    )


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        client: httpx.AsyncClient,
        clock: Clock = system_clock,
        random: Callable[[], float] = random_module.random,
    ):
        self.settings = settings
        self.client = client
        self.clock = clock
        self.random = random
        self.policy = RetryPolicy(settings.retry_schedule, settings.retry_jitter, settings.retry_after_cap)
        self._in_flight: set[asyncio.Task] = set()  # one task per send
        self._sweeps: set[asyncio.Task] = set()  # sweeps started by wake()
        self._sweeping = False
        self._sweep_again = False
        self._saturated = False

    async def sweep(self) -> int:
        """Start sending whatever is due, as far as free slots allow; returns how many started."""
        if self._sweeping:
            self._sweep_again = True
            return 0
        self._sweeping = True
        started = 0
        try:
            while True:
                self._sweep_again = False
                free = self.settings.max_concurrency - len(self._in_flight)
                self._saturated = free <= 0
                if self._saturated:
                    break
                wanted = min(free, self.settings.sweep_batch_size)
                try:
                    batch = await anyio.to_thread.run_sync(claim_due, self.clock(), wanted, self.settings.lease_seconds)
                except Exception:
                    # e.g. the database is briefly unavailable: nothing was claimed, the next tick retries
                    log.exception("could not claim due deliveries")
                    break
                for claimed in batch:
                    task = asyncio.create_task(self._deliver(claimed))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
                started += len(batch)
                if len(batch) < wanted and not self._sweep_again:
                    break
        finally:
            self._sweeping = False
        return started

    def wake(self) -> None:
        """Sweep now (from the event loop's thread): something may have become due."""
        if self._sweeping:
            self._sweep_again = True
        else:
            task = asyncio.create_task(self.sweep())
            self._sweeps.add(task)
            task.add_done_callback(self._sweeps.discard)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for in-flight sends (and sweeps they trigger); cancel what is left at `timeout`.

        A cancelled send keeps its lease, so another sweep resends it after the lease ends.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while pending := self._in_flight | self._sweeps:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return
            await asyncio.wait(pending, timeout=remaining)

    async def _deliver(self, claimed: ClaimedDelivery) -> None:
        result = await self.send(claimed)
        try:
            status = await anyio.to_thread.run_sync(
                record_result, claimed, result, self.clock(), self.policy, self.random
            )
        except Exception:
            # The lease stays on the row, so it is sent again once the lease expires.
            log.exception("could not record the attempt of delivery %s", claimed.id)
            return
        log.info("delivery %s to %s: attempt %d %s (%s)", claimed.id, claimed.webhook_id,
                 claimed.attempts + 1, status, result.status_code or result.error)
        if self._saturated:
            self.wake()

    async def send(self, claimed: ClaimedDelivery) -> AttemptResult:
        """One signed POST; every failure becomes an AttemptResult, never an exception."""
        started_at = self.clock()
        timestamp = int(started_at.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signature_headers(claimed.secret, claimed.event_id, claimed.event_type, timestamp, claimed.body),
        }
        began = time.perf_counter()
        status_code = retry_after = response_text = error = None
        try:
            async with asyncio.timeout(self.settings.request_timeout):
                async with self.client.stream("POST", claimed.url, content=claimed.body, headers=headers) as response:
                    status_code = response.status_code
                    retry_after = parse_retry_after(response.headers.get("retry-after"), started_at)
                    response_text = await _read_prefix(response)
        except (TimeoutError, httpx.TimeoutException):
            error = f"timed out after {self.settings.request_timeout:g}s"
        except httpx.HTTPError as exc:
            error = _describe(exc)
        duration_ms = round((time.perf_counter() - began) * 1000)
        return AttemptResult(
            started_at=started_at,
            duration_ms=duration_ms,
            request_headers=headers,
            status_code=status_code,
            response_body=response_text,
            error=error,
            retry_after=retry_after,
        )


async def _read_prefix(response: httpx.Response) -> str:
    received = bytearray()
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) >= MAX_RESPONSE_READ_BYTES:
            break
    return received.decode("utf-8", errors="replace")[:MAX_RESPONSE_BODY_CHARS]


def _describe(exc: httpx.HTTPError) -> str:
    """A short reason a person can act on, from the OS error under httpx's wrapper if any."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"could not resolve host: {cause.strerror}"
        if isinstance(cause, OSError) and cause.strerror:
            return f"connection failed: {cause.strerror}"
        cause = cause.__cause__ or cause.__context__
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
