"""The lease book: which claimed deliveries this process holds, and which leases to renew.

Pure bookkeeping with the time passed in (the dispatcher's injected clock); the dispatcher
(app/delivery/dispatcher.py) writes renewals and records through app/delivery/queue.py and
tells the book what the database answered.

A claim's lease is renewed while it is held (a slow send, a result waiting for a busy
database), every third of `lease_seconds` on the scheduler's tick: only a process that
stopped renewing, dead or stuck, has its claims taken over by another. A renewal moves a
row only while the lease on it is still the one this process holds: a lease that ran out
and was claimed by another process is not renewed, and keeps the value it had here.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from app.delivery.types import ClaimedDelivery

# A lease is renewed once it has less than this part of `lease_seconds` left: renewals run
# every third of a lease, so each is renewed with a third or more of it left.
RENEW_WITH_LEFT = 2 / 3


class LeaseBook:
    def __init__(self, lease_seconds: float):
        self.lease_seconds = lease_seconds
        # Claims whose result is not recorded yet: each as claimed, and with its lease as
        # renewed. The first tells a claim from a later one of the same delivery (this
        # process took it again after its lease ran out): only its own lease may move the row.
        self._held: dict[str, tuple[ClaimedDelivery, ClaimedDelivery]] = {}
        # Claims whose result could not be recorded: no longer renewed, so another sweep
        # sends them again once the lease runs out; shutdown hands them back sooner.
        self._expiring: dict[str, ClaimedDelivery] = {}

    def hold(self, claimed: ClaimedDelivery) -> None:
        self._held[claimed.id] = (claimed, claimed)
        self._expiring.pop(claimed.id, None)

    def current(self, claimed: ClaimedDelivery) -> ClaimedDelivery | None:
        """The claim with its lease as renewed; None once a later claim replaced it."""
        original, current = self._held.get(claimed.id, (None, None))
        return current if original is claimed else None

    def due_for_renewal(self, now: datetime) -> list[ClaimedDelivery]:
        """The claims held (with their current leases) that have less than RENEW_WITH_LEFT
        of a lease left at `now`."""
        renew_before = now + timedelta(seconds=self.lease_seconds * RENEW_WITH_LEFT)
        return [current for _, current in self._held.values() if current.lease_expires_at < renew_before]

    def renewed(self, claims: list[ClaimedDelivery], leases: dict[str, datetime]) -> int:
        """The database renewed `leases` (by delivery id) of `claims`; returns how many of
        them it did not renew: they ran out and another process claimed them."""
        for claim in claims:
            original, current = self._held.get(claim.id, (None, None))
            if claim.id in leases and current is claim:
                self._held[claim.id] = (original, dataclasses.replace(claim, lease_expires_at=leases[claim.id]))
        return len(claims) - len(leases)

    def recorded(self, claimed: ClaimedDelivery, current: ClaimedDelivery, stored: bool) -> None:
        """The claim's attempt was recorded with lease `current` (or not `stored`: then it
        is handed back at shutdown, or sent again once its lease runs out)."""
        if self.current(claimed):
            del self._held[claimed.id]
        if not stored:
            self._expiring[claimed.id] = current

    def release_all(self) -> list[ClaimedDelivery]:
        """Every claim still held or left unrecorded, with its current lease; forgets them."""
        claims = [*(current for _, current in self._held.values()), *self._expiring.values()]
        self._held, self._expiring = {}, {}
        return claims
