"""The sender: claim due deliveries, POST them concurrently, record every attempt.

One `Dispatcher` per process, sharing one client (app/delivery/outbound.py makes it and each
attempt). A sweep claims no more
rows than there are free send slots, starts a task per delivery and returns; the tasks
record their own results. Sweeps run on the scheduler's tick, and `wake()` starts one at
once when an event is emitted or a slot frees up while work was waiting, so the first
attempt does not wait for the next tick.

Each webhook also has its own limits, so one slow or hanging receiver cannot hold every
slot: at most `max_in_flight` sends at once (default `max_in_flight_per_webhook`) and at
most `rate_limit` per second. A sweep never claims more for a webhook than it may send
now; the rest stays pending for a later sweep, woken when a slot frees or a token refills.
These limits are per process: N processes may send N times as much to one webhook.

A claim's lease is renewed while it is held (a slow send, a result waiting for a busy
database), every third of `lease_seconds` on the scheduler's tick: only a process that
stopped renewing, dead or stuck, has its claims taken over by another.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import random as random_module
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

import anyio.to_thread

from app.rules.clock import Clock, system_clock
from app.config import Settings
from app.storage.db import is_sqlite
from app.delivery.health import OnDisabled
from app.delivery.metrics import Metrics
from app.storage.models import SUCCEEDED
from app.delivery.outbound import DeliveryClient, send_attempt
from app.delivery.pacing import TokenBucket
from app.delivery.policy import Failure
from app.rules.ratelimit import Rate, RateLimiter
from app.delivery.payloads import PayloadRenderer
from app.delivery.queue import claim_due, record_results, release_claims, renew_leases
from app.delivery.types import AttemptResult, ClaimedDelivery
from app.storage.writer import GroupWriter

log = logging.getLogger("hookline.dispatch")

# After a failed claim (the database locked or down), the sweeps of the next 1, 2, 4 … 30
# seconds skip claiming: a tick per second would otherwise log a failure per second.
CLAIM_BACKOFF_MAX_SECONDS = 30
# How long a webhook that answered 2xx keeps its claims-ahead once it has nothing in flight.
KEEP_ANSWERING_SECONDS = 5
# A send that fails unexpectedly is logged once per webhook in this long, not once per attempt.
UNEXPECTED_LOG_SECONDS = 3600


@dataclass
class _Pace:
    """What this process sends to one webhook: kept while it has sends in flight or waiting,
    or its rate-limit bucket is refilling (a full bucket is no different from a new one).

    A webhook that answers well also gets up to `cap` claimed deliveries waiting behind its
    sends, started the moment a send ends: the claim's round trip through the database no
    longer sits between one request and the next (with 5 webhooks at 8 sends each, sends
    waited on claims more than on the receiver). A waiting delivery holds a global slot and
    starts within one request timeout, inside its lease. Rate-limited, ordered, failing or
    slow webhooks get none: they would only hold claims longer.
    """

    cap: int
    sending: int = 0
    waiting: collections.deque = field(default_factory=collections.deque)
    bucket: TokenBucket | None = None
    answering: bool = False  # the last attempt got a 2xx: worth claiming ahead for
    answered_at: float = 0.0  # when a send last ended
    prefetch: bool = False  # may have claims waiting (not ordered, not rate limited)

    @property
    def depth(self) -> int:
        return self.cap if self.prefetch and self.answering else 0

    def room(self, ahead: bool) -> int:
        return self.cap + (self.depth if ahead else 0) - self.sending - len(self.waiting)

    def quota(self, now: float, ahead: bool) -> int:
        room = self.room(ahead)
        return room if self.bucket is None else min(room, self.bucket.available(now))

    def idle(self, now: float) -> bool:
        """Nothing to remember. A webhook that just answered is kept a while, so that a
        burst after a short pause is claimed ahead from the start."""
        recently_answering = self.answering and now - self.answered_at < KEEP_ANSWERING_SECONDS
        return (self.sending == 0 and not self.waiting and not recently_answering
                and (self.bucket is None or self.bucket.is_full(now)))


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        client: DeliveryClient,
        clock: Clock = system_clock,
        random: Callable[[], float] = random_module.random,
        metrics: Metrics | None = None,
        writer: GroupWriter | None = None,
        on_disabled: OnDisabled | None = None,  # tells the tenant a webhook was switched off
    ):
        self.settings = settings
        self.on_disabled = on_disabled
        self.metrics = metrics or Metrics(clock)
        self.client = client
        self.writer = writer
        self.clock = clock
        self.random = random
        self.payloads = PayloadRenderer(settings, clock)
        self._in_flight: set[asyncio.Task] = set()  # one task per send, until it is recorded
        # Claims whose result is not recorded yet: each as claimed, and with its lease as
        # renewed. The first tells a claim from a later one of the same delivery (this
        # process took it again after its lease ran out): only its own lease may move the row.
        self._claimed: dict[str, tuple[ClaimedDelivery, ClaimedDelivery]] = {}
        # Claims whose result could not be recorded: no longer renewed, so another sweep
        # sends them again once the lease runs out; shutdown hands them back sooner.
        self._expiring: dict[str, ClaimedDelivery] = {}
        # A renewal and a record of the same claims take turns: a record still carrying
        # the lease a renewal just replaced would find its row taken and not move it.
        self._lease_turn = asyncio.Lock()
        self._background: set[asyncio.Task] = set()  # sweeps started by wake(), the recorder
        self._unrecorded: list[tuple[ClaimedDelivery, AttemptResult, asyncio.Future]] = []
        self._recording = False
        self._stopping = False
        self._sweeping = False
        self._sweep_again = False
        self._sweep_started = False
        self._saturated = False
        self._paces: dict[str, _Pace] = {}  # by webhook id
        self._taken = 0  # slots taken: sends in flight and claims waiting to start
        self._ahead = True  # whether the last claim was sized with claims ahead
        self._offered: set[str] = set()  # webhooks the claim in progress may take more of
        self._refill_wake: asyncio.TimerHandle | None = None
        self._claim_failures = 0  # in a row
        self._claim_retry_at: datetime | None = None
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
                free = self.settings.max_concurrency - self._taken
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
                    batch = await self._write(
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
                    self._claimed[claimed.id] = (claimed, claimed)
                    self._expiring.pop(claimed.id, None)
                    self._pace_claimed(claimed, now.timestamp())
                # In the claim's round-robin order, so that turns stay fair.
                started += sum(self._start_next(self._paces[claimed.webhook_id]) for claimed in batch)
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
        # Claims ahead use idle capacity only: a waiting claim holds a slot that another
        # webhook could be sending with, which matters once slots run short (many
        # webhooks, some of them hanging).
        self._ahead = self._taken < self.settings.max_concurrency // 2
        return {webhook_id: pace.quota(now, self._ahead) for webhook_id, pace in self._paces.items()}

    def _pace_claimed(self, claimed: ClaimedDelivery, now: float) -> None:
        pace = self._paces.setdefault(claimed.webhook_id, _Pace(cap=0))
        # An ordered webhook sends one at a time; a full pace also wakes a sweep when its
        # send is recorded, which is when the next event becomes claimable.
        pace.cap = 1 if claimed.ordered else claimed.max_in_flight or self.settings.max_in_flight_per_webhook
        pace.prefetch = not (claimed.ordered or claimed.rate_limit)
        pace.waiting.append(claimed)
        self._taken += 1
        if not claimed.rate_limit:
            pace.bucket = None
            return
        if pace.bucket is None:
            pace.bucket = TokenBucket.full(claimed.rate_limit, now)
        pace.bucket.rate = claimed.rate_limit
        pace.bucket.take(now)

    def _start_next(self, pace: _Pace) -> bool:
        """Send the webhook's next claimed delivery if its cap allows (it already holds a slot)."""
        if not pace.waiting or pace.sending >= pace.cap or self._stopping:
            return False
        claimed = pace.waiting.popleft()
        pace.sending += 1
        task = asyncio.create_task(self._deliver(claimed))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return True

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
        if self._claimed or self._expiring:
            claims = [*(current for _, current in self._claimed.values()), *self._expiring.values()]
            self._claimed, self._expiring = {}, {}
            released = await self._write(release_claims, claims, self.clock())
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
            recorded = asyncio.get_running_loop().create_future()
            self._unrecorded.append((claimed, result, recorded))
            if not self._recording:
                self._recording = True
                self._start_background(self._record_unrecorded())
            await recorded
        finally:
            if not freed:
                self._free_slot(claimed, answering=False)
        if claimed.ordered:
            self.wake()  # its next event becomes claimable once this outcome is stored

    def _free_slot(self, claimed: ClaimedDelivery, answering: bool) -> None:
        pace = self._paces[claimed.webhook_id]
        was_full = pace.room(self._ahead) <= 0  # by the rule the last claim was sized with
        pace.sending -= 1
        self._taken -= 1
        pace.answering, pace.answered_at = answering, self.clock().timestamp()
        low_mark = (pace.depth if self._ahead else 0) // 2
        was_low = len(pace.waiting) <= low_mark
        self._start_next(pace)
        # Claim more once half of the claims waiting have started (a claim per send would
        # make every claim a small one): when the queue drops to that mark, and when the
        # cap held work back. A claim running now may have sized this webhook's quota
        # before the slot freed: it must look again, or that work waits for the next tick.
        running_low = len(pace.waiting) <= low_mark
        if self._saturated or running_low and (was_full or not was_low or claimed.webhook_id in self._offered):
            self.wake()

    async def _record_unrecorded(self) -> None:
        """Record results in groups: whatever finished while the last group was being
        written goes into the next transaction, so commits never queue up behind sends."""
        try:
            while self._unrecorded:
                group, self._unrecorded = self._unrecorded, []
                async with self._lease_turn:
                    held = [(self._held(c) or c, r) for c, r, _ in group]
                    statuses = await self._record(held)
                    for (claimed, _, _), (current, _), status in zip(group, held, statuses):
                        if self._held(claimed):
                            del self._claimed[claimed.id]
                        if status == "unrecorded":
                            self._expiring[claimed.id] = current
                for (claimed, result, recorded), status in zip(group, statuses):
                    # A line per success is thousands a second under load, and the attempt
                    # log already holds each one; what went wrong is worth a line.
                    log.log(logging.DEBUG if status == SUCCEEDED else logging.INFO,
                            "delivery %s to %s: attempt %d %s (%s)", claimed.id, claimed.webhook_id,
                            claimed.attempts + 1, status, result.status_code or result.error)
                    self.metrics.attempt_recorded(status, result.duration_ms / 1000)
                    if not recorded.done():
                        recorded.set_result(status)
        finally:
            self._recording = False

    async def _record(self, held: list[tuple[ClaimedDelivery, AttemptResult]]) -> list[str]:
        """Record a group; its statuses, "unrecorded" for each if the database refused.

        What a receiver answered is the one part of a record from outside: if the group
        fails, it is written once more without the response bodies, so that one answer
        the database will not take cannot leave a whole group in `delivering`, sent again
        and again. If that fails too (the database is down), the leases stay on the rows
        and they are sent again once the leases expire.
        """
        try:
            return await self._write(record_results, held, self.clock(), self.settings, self.random, self.on_disabled)
        except Exception as exc:
            first = exc
        bare = [(claimed, dataclasses.replace(result, response_body=None)) for claimed, result in held]
        try:
            statuses = await self._write(record_results, bare, self.clock(), self.settings, self.random,
                                         self.on_disabled)
        except Exception:
            log.exception("could not record %d attempts", len(held))
            return ["unrecorded"] * len(held)
        log.error("recorded %d attempts without the receivers' answers: the database refused them (%s)",
                  len(held), type(first).__name__)
        return statuses

    def _held(self, claimed: ClaimedDelivery) -> ClaimedDelivery | None:
        """The claim with its lease as renewed; None once a later claim replaced it."""
        original, current = self._claimed.get(claimed.id, (None, None))
        return current if original is claimed else None

    def renew(self) -> None:
        """Renew leases in a task of the dispatcher's own, which shutdown drains: a renewal
        cut off after its commit would leave this process holding leases it no longer has."""
        if not self._stopping:
            self._start_background(self.renew_leases())

    async def renew_leases(self) -> int:
        """Renew the claims held for over a third of the lease (`renew` runs every third, so
        a lease is renewed with a third or more of it left); returns how many were renewed."""
        async with self._lease_turn:
            now = self.clock()
            renew_before = now + timedelta(seconds=self.settings.lease_seconds * 2 / 3)
            held = [(original, current) for original, current in self._claimed.values()
                    if current.lease_expires_at < renew_before]
            if not held:
                return 0
            try:
                renewed = await self._write(
                    renew_leases, [current for _, current in held], now, self.settings.lease_seconds
                )
            except Exception as exc:
                log.error("could not renew the leases of %d deliveries in flight: %s", len(held), exc)
                return 0
            for original, current in held:
                if current.id in renewed and self._held(original):
                    renewed_claim = dataclasses.replace(current, lease_expires_at=renewed[current.id])
                    self._claimed[current.id] = (original, renewed_claim)
            if lost := len(held) - len(renewed):
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
            return await send_attempt(self.client.transport, claimed, body, self.settings, started_at)
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
