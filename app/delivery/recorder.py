"""Recording attempts in groups: one transaction for whatever finished while the last
group was being written, so commits never queue up behind sends.

The dispatcher (app/delivery/dispatcher.py) hands each finished send to `record` and
waits; one task of the dispatcher's own writes the groups through app/delivery/queue.py,
taking turns with lease renewal (a record still carrying the lease a renewal just
replaced would find its row taken and not move it), and tells the lease book what was
stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Awaitable, Callable

from app.config import Settings
from app.delivery.health import HealthObserver
from app.delivery.leases import LeaseBook
from app.delivery.metrics import Metrics
from app.delivery.queue import record_results
from app.delivery.types import AttemptResult, ClaimedDelivery
from app.rules.clock import Clock
from app.storage.models import SUCCEEDED

log = logging.getLogger("hookline.dispatch")

UNRECORDED = "unrecorded"  # the status of an attempt the database refused twice


class GroupRecorder:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        random: Callable[[], float],
        metrics: Metrics,
        leases: LeaseBook,
        lease_turn: asyncio.Lock,
        write: Callable[..., Awaitable],
        spawn: Callable[[Awaitable], asyncio.Task],
        observe_health: HealthObserver | None = None,
    ):
        self.settings = settings
        self.clock = clock
        self.random = random
        self.metrics = metrics
        self.leases = leases
        self.lease_turn = lease_turn
        self.write = write  # runs a database write (the dispatcher's, through its group-commit writer)
        self.spawn = spawn  # starts a task that the dispatcher's drain waits for
        self.observe_health = observe_health  # tells the tenant what changed a webhook's health
        self._waiting: list[tuple[ClaimedDelivery, AttemptResult, asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    async def record(self, claimed: ClaimedDelivery, result: AttemptResult) -> str:
        """Record one attempt with the next group; its status once written."""
        recorded = asyncio.get_running_loop().create_future()
        self._waiting.append((claimed, result, recorded))
        if self._task is None:
            self._task = self.spawn(self._record_waiting())
        return await recorded

    async def _record_waiting(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                async with self.lease_turn:
                    held = [(self.leases.current(c) or c, r) for c, r, _ in group]
                    statuses = await self._record(held)
                    for (claimed, _, _), (current, _), status in zip(group, held, statuses):
                        self.leases.recorded(claimed, current, stored=status != UNRECORDED)
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
            self._task = None

    async def _record(self, held: list[tuple[ClaimedDelivery, AttemptResult]]) -> list[str]:
        """Record a group; its statuses, UNRECORDED for each if the database refused.

        What a receiver answered is the one part of a record from outside: if the group
        fails, it is written once more without the response bodies, so that one answer
        the database will not take cannot leave a whole group in `delivering`, sent again
        and again. If that fails too (the database is down), the leases stay on the rows
        and they are sent again once the leases expire.
        """
        try:
            return await self.write(record_results, held, self.clock(), self.settings, self.random,
                                    self.observe_health)
        except Exception as exc:
            first = exc
        bare = [(claimed, dataclasses.replace(result, response_body=None)) for claimed, result in held]
        try:
            statuses = await self.write(record_results, bare, self.clock(), self.settings, self.random,
                                        self.observe_health)
        except Exception:
            log.exception("could not record %d attempts", len(held))
            return [UNRECORDED] * len(held)
        log.error("recorded %d attempts without the receivers' answers: the database refused them (%s)",
                  len(held), type(first).__name__)
        return statuses
