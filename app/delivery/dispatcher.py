"""The sender's loop: claim due deliveries, POST them concurrently, record every attempt.

One `Dispatcher` per process, sharing one client (app/delivery/outbound.py makes it and each
attempt). It ties the parts: the book of send slots and pacing (app/delivery/slots.py)
sizes each claim, the lease book (app/delivery/leases.py) knows which claims this process
holds, the group recorder (app/delivery/recorder.py) writes the attempts, and the queue
(app/delivery/queue.py) claims, renews and records in the database. The books keep no
time of their own: every decision reads the injected clock, and the event loop's timers
only sleep until the time those decisions name.

A sweep claims no more rows than there are free send slots, starts a task per delivery
and returns; the tasks hand their results to the recorder. Sweeps run on the
scheduler's tick, and `wake()` starts one at once when an event is emitted, a slot frees
up while work was waiting or a rate-limited webhook's token refills, so the first attempt
does not wait for the next tick. Leases are renewed on the scheduler's tick too
(`renew`), every third of `lease_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
import random as random_module
import time
from datetime import datetime, timedelta
from typing import Callable

import anyio.to_thread

from app.config import Settings
from app.delivery.health import HealthObserver
from app.delivery.leases import LeaseBook
from app.delivery.metrics import Metrics
from app.delivery.outbound import DeliveryClient, send_attempt
from app.delivery.payloads import PayloadRenderer
from app.delivery.policy import Failure
from app.delivery.queue import claim_due, release_claims, renew_leases
from app.delivery.recorder import GroupRecorder
from app.delivery.signed_request import installation_defaults
from app.delivery.slots import SlotBook
from app.delivery.tracing import Tracing
from app.delivery.types import AttemptResult, ClaimedDelivery
from app.rules.clock import Clock, system_clock
from app.rules.ratelimit import Rate, RateLimiter
from app.storage.db import is_sqlite
from app.storage.writer import GroupWriter

log = logging.getLogger("hookline.dispatch")

# After a failed claim (the database locked or down), the sweeps of the next 1, 2, 4 … 30
# seconds skip claiming: a tick per second would otherwise log a failure per second.
CLAIM_BACKOFF_MAX_SECONDS = 30
# A send that fails unexpectedly is logged once per webhook in this long, not once per attempt.
UNEXPECTED_LOG_SECONDS = 3600


class ClaimBackoff:
    """Failed claims in a row, and when claiming may be tried again."""

    def __init__(self):
        self.failures = 0
        self.retry_at: datetime | None = None

    def paused(self, now: datetime) -> bool:
        """Backing off. A clock that jumped back makes the wait longer than any backoff: that
        ends it rather than stretching it by the jump."""
        wait = 0 if self.retry_at is None else (self.retry_at - now).total_seconds()
        return 0 < wait <= CLAIM_BACKOFF_MAX_SECONDS

    def failed(self, now: datetime, exc: Exception) -> None:
        self.failures += 1
        delay = min(2 ** (self.failures - 1), CLAIM_BACKOFF_MAX_SECONDS)
        self.retry_at = now + timedelta(seconds=delay)
        log.error("could not claim due deliveries (%d failed in a row): %s; next try in %ds",
                  self.failures, exc, delay, exc_info=self.failures == 1)

    def succeeded(self) -> None:
        if self.failures:
            log.info("claiming again after %d failed claims", self.failures)
            self.failures, self.retry_at = 0, None


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        client: DeliveryClient,
        clock: Clock = system_clock,
        random: Callable[[], float] = random_module.random,
        metrics: Metrics | None = None,
        writer: GroupWriter | None = None,
        *,
        observe_health: HealthObserver,  # tells the tenant what changed a webhook's health: the process hands it in
        tracing: Tracing | None = None,  # OpenTelemetry spans (app/delivery/tracing.py); None: off
    ):
        self.settings = settings
        self.tracing = tracing
        self.metrics = metrics or Metrics(clock)
        self.client = client
        self.writer = writer
        self.clock = clock
        self.random = random
        self.payloads = PayloadRenderer(settings, clock)
        self.slots = SlotBook(settings.max_concurrency, settings.max_in_flight_per_webhook)
        self._origin = clock()  # the slot book counts seconds from here
        self.leases = LeaseBook(settings.lease_seconds)
        self._claims = ClaimBackoff()
        # A renewal and a record of the same claims take turns: a record still carrying
        # the lease a renewal just replaced would find its row taken and not move it.
        self._lease_turn = asyncio.Lock()
        self._in_flight: set[asyncio.Task] = set()  # one task per send, until it is recorded
        self._background: set[asyncio.Task] = set()  # sweeps started by wake(), renewals, the recorder
        self.recorder = GroupRecorder(settings, clock, random, self.metrics, self.leases, self._lease_turn,
                                      self._write, self._start_background, observe_health)
        self._stopping = False
        self._sweeping = False  # a sweep is running: another would only claim the same
        self._sweep_again = False  # something became due while it ran: it claims once more
        self._sweep_queued = False  # a woken sweep is about to run: more wake-ups add nothing
        self._refill_wake: tuple[asyncio.TimerHandle, float] | None = None  # and its time on the clock
        self._unexpected_log = RateLimiter(Rate(1, UNEXPECTED_LOG_SECONDS))  # a line per webhook and period

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
                wanted = self.slots.wanted(self.settings.sweep_batch_size)
                if not wanted:
                    break
                now = self.clock()
                if self._claims.paused(now):
                    break
                quotas = self.slots.offer(self._seconds(now))
                claim_began = time.time_ns()
                try:
                    batch = await self._write(
                        claim_due, now, wanted, self.settings.lease_seconds,
                        self.settings.max_in_flight_per_webhook, quotas, installation_defaults(self.settings),
                    )
                except Exception as exc:
                    # e.g. the database is unavailable: nothing was claimed
                    self._claims.failed(now, exc)
                    break
                finally:
                    self.slots.offer_ended()
                self._claims.succeeded()
                if self.tracing is not None and batch:
                    self.tracing.claimed(claim_began, batch)
                # Each send starts now, so a paced webhook spends its token now: spent at
                # the claim's start, a slow claim (an fsync) followed by a quick one let two
                # requests out closer than 1/rate_limit.
                started_at = self._seconds(self.clock())
                for claimed in batch:
                    self.leases.hold(claimed)
                    self.slots.claimed(claimed, started_at)
                # In the claim's round-robin order, so that turns stay fair.
                started += sum(self._start(self.slots.next_send(claimed.webhook_id)) for claimed in batch)
                if len(batch) < wanted and not self._sweep_again:
                    break
        finally:
            self._sweeping = False
            self._wake_at_next_token(self._seconds(now))
        return started

    def _seconds(self, at: datetime) -> float:
        """The injected clock's time as the slot book counts it. Seconds since the epoch
        as a float are only good to a quarter of a microsecond; from a nearby origin a
        refill of exactly 1/rate adds up to exactly one token."""
        return (at - self._origin).total_seconds()

    def _start(self, claimed: ClaimedDelivery | None) -> bool:
        """Send a delivery the slot book let go (it already holds a slot)."""
        if claimed is None:
            return False
        task = asyncio.create_task(self._deliver(claimed))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return True

    def _wake_at_next_token(self, now: float) -> None:
        """Sweep again when a rate-limited webhook can send, rather than polling for it.
        How long to wait is the slot book's answer on the injected clock; the loop's timer
        only sleeps that long. Once a bucket is full it is forgotten, and the wake-ups stop."""
        wait = None if self._stopping else self.slots.seconds_until_token(now)
        if wait is None:
            return
        if self._refill_wake is not None:
            timer, due = self._refill_wake
            if due <= now + wait:
                return
            timer.cancel()
        timer = asyncio.get_running_loop().call_later(wait, self._wake_after_refill)
        self._refill_wake = timer, now + wait

    def _wake_after_refill(self) -> None:
        self._refill_wake = None
        self.wake()

    def wake(self) -> None:
        """Sweep now (from the event loop's thread): something may have become due."""
        if self._sweeping:
            self._sweep_again = True
        elif not self._sweep_queued:
            # One sweep for a burst of wake-ups (a recorded group of sends wakes once per
            # send): the extra ones would only make the running sweep claim again.
            self._sweep_queued = True
            self._start_background(self._woken_sweep())

    async def _woken_sweep(self) -> None:
        self._sweep_queued = False
        await self.sweep()

    def _start_background(self, coroutine) -> asyncio.Task:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def shutdown(self, timeout: float) -> None:
        """Stop claiming, give the sends in flight `timeout` seconds to finish, then hand
        back the claims left (cut off, or not recorded): pending again at once, so another
        process sends them now instead of after their lease runs out."""
        self._stopping = True
        self.slots.closed = True
        if self._refill_wake is not None:
            self._refill_wake[0].cancel()
            self._refill_wake = None
        await self.drain(timeout)
        if claims := self.leases.release_all():
            released = await self._write(release_claims, claims, self.clock())
            log.warning("shutting down: released %d unfinished deliveries for another sweep", released)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for in-flight sends (and sweeps they trigger); cancel what is left at `timeout`
        seconds (of waiting: the event loop's time, not the injected clock's).

        A cancelled send keeps its lease, so another sweep resends it after the lease ends.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while pending := self._in_flight | self._background:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return
            await asyncio.wait(pending, timeout=remaining)

    async def _deliver(self, claimed: ClaimedDelivery) -> None:
        """Send, then record. After a 2xx the slot frees as soon as the request is over: a
        group commit takes a while, and holding slots through it left sends idle (the row
        stays `delivering` until recorded, so nothing claims it twice). After a failure
        it frees once the outcome is stored, since that outcome may disable the webhook,
        and the next send must see that."""
        freed = False
        try:
            result = await self.send(claimed)
            if result.status_code is not None and 200 <= result.status_code < 300:
                freed = True
                self._free_slot(claimed, answering=True)
            await self.recorder.record(claimed, result)
        finally:
            if not freed:
                self._free_slot(claimed, answering=False)
        if claimed.ordered:
            self.wake()  # its next event becomes claimable once this outcome is stored

    def _free_slot(self, claimed: ClaimedDelivery, answering: bool) -> None:
        following, sweep = self.slots.finished(claimed, answering, self._seconds(self.clock()))
        self._start(following)
        if sweep:
            self.wake()

    def renew(self) -> None:
        """Renew leases in a task of the dispatcher's own, which shutdown drains: a renewal
        cut off after its commit would leave this process holding leases it no longer has."""
        if not self._stopping:
            self._start_background(self.renew_leases())

    async def renew_leases(self) -> int:
        """Renew the leases the lease book names due at the injected clock's time; returns
        how many were renewed."""
        async with self._lease_turn:
            now = self.clock()
            due = self.leases.due_for_renewal(now)
            if not due:
                return 0
            try:
                renewed = await self._write(renew_leases, due, now, self.settings.lease_seconds)
            except Exception as exc:
                log.error("could not renew the leases of %d deliveries in flight: %s", len(due), exc)
                return 0
            if lost := self.leases.renewed(due, renewed):
                log.warning("%d deliveries in flight ran out of lease and were claimed by another process: "
                            "they may be sent twice, and only the other attempt moves them on", lost)
            return len(renewed)

    async def _write(self, function, *args):
        """Run a database write: each of the engine's (claims, records, lease renewals,
        releases) goes through here. On SQLite, in the process's group-commit writer when it
        has one: one transaction for whatever emits and engine writes are waiting, and no
        thread waiting for SQLite's write lock behind another. PostgreSQL locks rows, not
        the database, so there the writes run side by side in worker threads (through the
        one writer, each statement's round trip queued behind the others': 1,023 -> 651
        deliveries/s, bench.throughput --pg)."""
        if self.writer is None or not is_sqlite():
            return await anyio.to_thread.run_sync(function, *args)
        return await self.writer.write(lambda _now, _lookups: function(*args))

    async def send(self, claimed: ClaimedDelivery) -> AttemptResult:
        """One signed POST; every failure becomes an AttemptResult, never an exception.

        send_attempt turns what a receiver or a webhook row can cause into a result; this is
        the last line behind it: a send that raised would leave its delivery in
        `delivering`, its lease renewed for ever and an ordered webhook blocked behind it.
        """
        started_at = self.clock()
        try:
            body = await self.payloads.body(claimed)  # a tenant's template renders in a bounded process
            if self.tracing is None:
                return await send_attempt(self.client.transport, claimed, body, self.settings, started_at)
            return await self.tracing.attempt(claimed, lambda span_id: send_attempt(
                self.client.transport, claimed, body, self.settings, started_at, span_id))
        except Exception as exc:
            self._log_unexpected(claimed.webhook_id, exc)
            return AttemptResult(
                started_at, max(0, round((self.clock() - started_at).total_seconds() * 1000)), {},
                error=f"unexpected error in Hookline while sending ({type(exc).__name__})",
                failure=Failure.UNEXPECTED,
            )

    def _log_unexpected(self, webhook_id: str, exc: Exception) -> None:
        """A line per webhook and UNEXPECTED_LOG_SECONDS, naming the exception's type only:
        its message, and a traceback's, may hold the request's headers (a receiver's
        credential) or the body."""
        if self._unexpected_log.take(webhook_id, self.clock()):
            return
        log.error("a send to webhook %s failed with an unexpected %s; recorded as a failed attempt and retried "
                  "(logged once per webhook every %ds)", webhook_id, type(exc).__name__, UNEXPECTED_LOG_SECONDS)
