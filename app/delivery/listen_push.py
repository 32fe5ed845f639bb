"""Deliveries of `hookline listen` sessions: claimed by the web process that holds the
session's stream, pushed down it, and recorded with what the developer's machine answered.

A session is an ephemeral webhook (`Webhook.listen_expires_at` set). Its events fan out
to it like to any webhook, but only the process holding its stream can send them, so
the sender's claims skip it (`Delivery.due`) and a `hookline worker` never takes one.
The `ListenHub` of the web process claims its sessions' due rows itself, with the
queue's leases and the same `ClaimedDelivery` (queue.claim), signs them as a
real send would, pushes them to the stream and waits for the CLI's report of the local
answer; that report is the attempt, recorded by `queue.record_results`: the same attempt
log, retry schedule and health rules as a POST over the internet. A local 500 is retried
on schedule, by this hub, while the session lasts.

The hub renews each session's lease on its webhook row while the stream is open. A
process that dies holding streams stops renewing, and the next hub to tick anywhere ends
those sessions (`end_expired`, the service the process hands in): the webhook is removed
and its pending deliveries cancelled, as when a stream ends cleanly.

The time of every decision is the injected clock's; the loop's timers only wait.
"""

from __future__ import annotations

import asyncio
import logging
import random as random_module
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

import anyio.to_thread

from app.config import Settings
from app.delivery.outbound import request_headers
from app.delivery.payloads import PayloadRenderer
from app.delivery.policy import Failure
from app.delivery.signed_request import Defaults, installation_defaults
from app.delivery.queue import claim, record_results
from app.delivery.signing import CannotSign
from app.delivery.types import MAX_RESPONSE_BODY_CHARS, AttemptResult, ClaimedDelivery
from app.rules.clock import Clock
from app.storage.db import write_transaction
from app.storage.models import Delivery, Webhook

log = logging.getLogger("hookline.listen")

# Deliveries pushed to one session and not answered yet: a laptop's dev server is slow to
# answer a burst, and a retry storm should wait in the queue, not in the stream.
PUSH_LIMIT = 10
# The CLI's own timeout for the local request, as a part of request_timeout: its report
# then still arrives before the hub gives up waiting for it.
LOCAL_TIMEOUT_SHARE = 0.8


@dataclass(frozen=True)
class LocalAnswer:
    """What the CLI reports about its POST to the local URL."""

    status_code: int | None
    duration_ms: int
    response_body: str | None = None
    error: str | None = None  # why no answer at all: connection refused, timed out

    def attempt(self, started_at: datetime, request_headers: dict) -> AttemptResult:
        body = None if self.response_body is None else self.response_body[:MAX_RESPONSE_BODY_CHARS]
        failure = None
        if self.status_code is None:
            failure = Failure.TIMEOUT if self.error and "timed out" in self.error else Failure.CONNECTION
        error = None if self.error is None else f"local: {self.error}"
        return AttemptResult(started_at, self.duration_ms, request_headers, self.status_code, body, error,
                             failure=failure)


@dataclass(eq=False)
class ListenSession:
    """One open stream: what to push down it, and the pushes waiting for their report."""

    webhook_id: str
    tenant_id: int
    outbox: asyncio.Queue = field(default_factory=asyncio.Queue)  # dicts; None ends the stream
    waiting: dict[str, asyncio.Future] = field(default_factory=dict)
    ended: bool = False

    @property
    def free(self) -> int:
        return PUSH_LIMIT - len(self.waiting)


def claim_session_due(
    webhook_id: str, now: datetime, limit: int, lease_seconds: float, defaults: Defaults,
) -> list[ClaimedDelivery]:
    """Up to `limit` due deliveries of one session, oldest first, under a lease like any
    claim: a push whose report never came (the process died) is due again once it runs out."""
    lease = now + timedelta(seconds=lease_seconds)
    due = (Delivery.select(Delivery.id).where((Delivery.webhook == webhook_id) & Delivery.is_due(now))
           .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit))
    return claim(due, lease, now, defaults)


def renew_session_leases(webhook_ids: list[str], now: datetime, lease_seconds: float) -> int:
    """Keep the sessions this process streams alive; one that ended meanwhile stays ended."""
    if not webhook_ids:
        return 0
    with write_transaction():
        return (Webhook.update(listen_expires_at=now + timedelta(seconds=lease_seconds))
                .where(Webhook.id.in_(webhook_ids) & Webhook.deleted_at.is_null()).execute())


class ListenHub:
    """The listen sessions whose streams this web process holds."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        end_expired: Callable[[datetime], int],  # ends sessions whose lease ran out: the process hands it in
        random: Callable[[], float] = random_module.random,
    ):
        self.settings = settings
        self.clock = clock
        self.random = random
        self.end_expired = end_expired
        self.payloads = PayloadRenderer(settings, clock)
        self.defaults = installation_defaults(settings)
        self.sessions: dict[str, ListenSession] = {}
        self._tasks: set[asyncio.Task] = set()
        self._claiming = False
        self._claim_again = False
        self._housekept_at: datetime | None = None

    @property
    def lease_seconds(self) -> float:
        """A session's lease (renewed every third of it) and a pushed delivery's, which no
        push outlasts: a push waits request_timeout at most, and settings keep that shorter."""
        return self.settings.lease_seconds

    @property
    def local_timeout(self) -> float:
        return self.settings.request_timeout * LOCAL_TIMEOUT_SHARE

    def attach(self, webhook_id: str, tenant_id: int) -> ListenSession:
        session = self.sessions[webhook_id] = ListenSession(webhook_id, tenant_id)
        self.wake()  # deliveries may be due already
        return session

    def detach(self, session: ListenSession) -> None:
        """The stream ended: pushes waiting for a report are dropped (the session's service
        cancels their deliveries)."""
        session.ended = True
        self.sessions.pop(session.webhook_id, None)
        for future in session.waiting.values():
            future.cancel()

    def end_all(self) -> None:
        """Ask every stream to end (the server is shutting down): each ends its session."""
        for session in self.sessions.values():
            session.outbox.put_nowait(None)

    def answer(self, webhook_id: str, tenant_id: int | None, delivery_id: str, answer: LocalAnswer) -> bool:
        """The CLI's report on a push; False if no push of this session (of `tenant_id`, or
        any tenant's for None) waits for it."""
        session = self.sessions.get(webhook_id)
        if session is not None and tenant_id is not None and session.tenant_id != tenant_id:
            session = None
        future = session.waiting.get(delivery_id) if session else None
        if future is None or future.done():
            return False
        future.set_result(answer)
        return True

    def wake(self) -> None:
        """Claim now (from the event loop's thread): something may have become due."""
        if self._claiming:
            self._claim_again = True
        elif self.sessions:
            self._claiming = True
            self._spawn(self._claim())

    async def tick(self) -> None:
        """On the sweep interval: renew the sessions' leases and end expired ones every third
        of a lease, and claim what became due (retries)."""
        now = self.clock()
        third = timedelta(seconds=self.lease_seconds / 3)
        if self._housekept_at is None or now - self._housekept_at >= third or now < self._housekept_at:
            self._housekept_at = now
            try:
                await anyio.to_thread.run_sync(renew_session_leases, list(self.sessions), now, self.lease_seconds)
                if ended := await anyio.to_thread.run_sync(self.end_expired, now):
                    log.info("ended %d listen sessions whose stream was lost", ended)
            except Exception as exc:
                log.error("could not renew or expire listen sessions: %s", exc)
        self.wake()

    async def run(self) -> None:
        """Tick until cancelled (the lifespan's task)."""
        while True:
            await self.tick()
            await asyncio.sleep(self.settings.sweep_interval)

    async def drain(self) -> None:
        """Wait until every claim and push has finished (recorded, or dropped with its stream)."""
        while pending := set(self._tasks):
            await asyncio.wait(pending)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _claim(self) -> None:
        try:
            while True:
                self._claim_again = False
                for session in list(self.sessions.values()):
                    if session.free <= 0 or session.ended:
                        continue
                    batch = await anyio.to_thread.run_sync(
                        claim_session_due, session.webhook_id, self.clock(), session.free, self.lease_seconds,
                        self.defaults)
                    for claimed in batch:
                        self._push(session, claimed)
                if not self._claim_again:
                    break
        except Exception as exc:
            log.error("could not claim the deliveries of listen sessions: %s", exc)
        finally:
            self._claiming = False

    def _push(self, session: ListenSession, claimed: ClaimedDelivery) -> None:
        future = asyncio.get_running_loop().create_future()
        session.waiting[claimed.id] = future  # counts against the session's free slots at once
        self._spawn(self._deliver(session, claimed, future))

    async def _push_and_wait(
        self, session: ListenSession, claimed: ClaimedDelivery, future: asyncio.Future, body: bytes,
        started_at: datetime,
    ) -> AttemptResult:
        """Push one signed request down the stream and wait for the CLI's report of the local answer."""
        try:
            headers = request_headers(claimed, body, started_at)
        except CannotSign as exc:
            return AttemptResult(started_at, 0, {}, error=f"cannot sign: {exc}", failure=Failure.CANNOT_SIGN)
        session.outbox.put_nowait({
            "delivery_id": claimed.id, "attempt": claimed.attempts + 1, "event_id": claimed.event_id,
            "event_type": claimed.event_type, "timeout": self.local_timeout, "headers": headers,
            "body": body.decode(),
        })
        try:
            async with asyncio.timeout(self.settings.request_timeout):
                return (await future).attempt(started_at, headers)
        except TimeoutError:
            elapsed = round((self.clock() - started_at).total_seconds() * 1000)
            return AttemptResult(started_at, max(0, elapsed), headers, failure=Failure.TIMEOUT,
                                 error=f"the listen session reported no answer within "
                                       f"{self.settings.request_timeout:g}s")

    async def _deliver(self, session: ListenSession, claimed: ClaimedDelivery, future: asyncio.Future) -> None:
        started_at = self.clock()
        try:
            body = await self.payloads.body(claimed)
            result = await self._push_and_wait(session, claimed, future, body, started_at)
        except asyncio.CancelledError:
            return  # the stream ended: its session's deliveries are cancelled, not recorded
        except Exception as exc:  # the last line, as in Dispatcher.send: a push never raises
            log.error("pushing listen delivery %s failed unexpectedly (%s)", claimed.id, type(exc).__name__)
            result = AttemptResult(started_at, 0, {}, error=f"unexpected error in Hookline while pushing "
                                   f"({type(exc).__name__})", failure=Failure.UNEXPECTED)
        finally:
            session.waiting.pop(claimed.id, None)
        if session.ended:
            return
        try:
            await anyio.to_thread.run_sync(record_results, [(claimed, result)], self.clock(), self.settings,
                                           self.random, None)
        except Exception as exc:
            # The lease stays on the row: this hub pushes it again once it runs out.
            log.error("could not record the attempt of listen delivery %s: %s", claimed.id, exc)
        self.wake()  # a slot is free, and the next delivery may be due
