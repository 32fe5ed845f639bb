"""The book of send slots and pacing: how much the dispatcher may claim now, and for whom.

Pure bookkeeping, no I/O and no event loop, with the time passed in (the dispatcher's
injected clock, in seconds), so a test can advance a fake clock and watch a paced webhook's
next token come. The dispatcher (app/delivery/dispatcher.py) asks it what to claim, tells
it what was claimed, started and finished, and starts the sends it names.

A process has `max_concurrency` slots; a claimed delivery holds one from its claim until
its send ends (a 2xx) or its outcome is stored. Each webhook also has its own limits, so
one slow or hanging receiver cannot hold every slot: at most `cap` sends at once (an
ordered webhook one, else its `max_in_flight` or `max_in_flight_per_webhook`) and at most
`rate_limit` per second. A claim never takes more for a webhook than it may send now; the
rest stays pending for a later sweep, woken when a slot frees or a token refills. These
limits are per process: N processes may send N times as much to one webhook.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from app.delivery.types import ClaimedDelivery
from app.rules.token_bucket import TokenBucket

# How long a webhook that answered 2xx keeps its claims-ahead once it has nothing in flight.
KEEP_ANSWERING_SECONDS = 5


@dataclass
class Pace:
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

    def refilling(self, now: float) -> bool:
        return self.bucket is not None and not self.bucket.is_full(now)

    def idle(self, now: float) -> bool:
        """Nothing to remember. A webhook that just answered is kept a while, so that a
        burst after a short pause is claimed ahead from the start."""
        recently_answering = self.answering and now - self.answered_at < KEEP_ANSWERING_SECONDS
        return self.sending == 0 and not self.waiting and not recently_answering and not self.refilling(now)


class SlotBook:
    """Slots taken, per-webhook paces, and what the claim in progress was offered."""

    def __init__(self, max_concurrency: int, max_in_flight_per_webhook: int):
        self.max_concurrency = max_concurrency
        self.max_in_flight_per_webhook = max_in_flight_per_webhook
        self.paces: dict[str, Pace] = {}  # by webhook id
        self.taken = 0  # slots taken: sends in flight and claims waiting to start
        # Whether the last claim was sized with claims ahead: a slot that frees is judged
        # by the same rule.
        self.ahead = True
        self.saturated = False  # the last sweep found every slot taken: any freed slot wakes one
        self.offered: set[str] = set()  # webhooks the claim in progress may take more of
        self.closed = False  # shutting down: no send starts any more

    def wanted(self, batch_size: int) -> int:
        """How many a claim may take now (0: every slot is taken)."""
        free = self.max_concurrency - self.taken
        self.saturated = free <= 0
        return max(0, min(free, batch_size))

    def offer(self, now: float) -> dict[str, int]:
        """Size a claim: how many more each webhook we know may take now. The idle ones
        are forgotten; the claim query works out their quota from the webhook row alone."""
        for webhook_id in [w for w, pace in self.paces.items() if pace.idle(now)]:
            del self.paces[webhook_id]
        # Claims ahead use idle capacity only: a waiting claim holds a slot that another
        # webhook could be sending with, which matters once slots run short (many
        # webhooks, some of them hanging).
        self.ahead = self.taken < self.max_concurrency // 2
        quotas = {webhook_id: pace.quota(now, self.ahead) for webhook_id, pace in self.paces.items()}
        self.offered = {webhook_id for webhook_id, n in quotas.items() if n > 0}
        return quotas

    def offer_ended(self) -> None:
        self.offered = set()

    def claimed(self, claimed: ClaimedDelivery, now: float) -> None:
        """A claimed delivery takes a slot and waits for its webhook's turn (`next_send`)."""
        pace = self.paces.setdefault(claimed.webhook_id, Pace(cap=0))
        # An ordered webhook sends one at a time; a full pace also wakes a sweep when its
        # send is recorded, which is when the next event becomes claimable.
        pace.cap = 1 if claimed.ordered else claimed.max_in_flight or self.max_in_flight_per_webhook
        pace.prefetch = not (claimed.ordered or claimed.rate_limit)
        pace.waiting.append(claimed)
        self.taken += 1
        if not claimed.rate_limit:
            pace.bucket = None
            return
        if pace.bucket is None:
            pace.bucket = TokenBucket.spaced(claimed.rate_limit, now)
        pace.bucket.count = claimed.rate_limit
        pace.bucket.take(now)

    def next_send(self, webhook_id: str) -> ClaimedDelivery | None:
        """The webhook's next claimed delivery to send, if its cap allows (it holds a slot)."""
        pace = self.paces[webhook_id]
        if not pace.waiting or pace.sending >= pace.cap or self.closed:
            return None
        pace.sending += 1
        return pace.waiting.popleft()

    def finished(self, claimed: ClaimedDelivery, answering: bool, now: float) -> tuple[ClaimedDelivery | None, bool]:
        """A send's slot frees: the webhook's next delivery to send now, if any, and
        whether to sweep again.

        Claim more once half of the claims waiting have started (a claim per send would
        make every claim a small one): when the queue drops to that mark, and when the cap
        held work back. A claim running now may have sized this webhook's quota before the
        slot freed: it must look again, or that work waits for the next tick.
        """
        pace = self.paces[claimed.webhook_id]
        was_full = pace.room(self.ahead) <= 0
        pace.sending -= 1
        self.taken -= 1
        pace.answering, pace.answered_at = answering, now
        low_mark = (pace.depth if self.ahead else 0) // 2
        was_low = len(pace.waiting) <= low_mark
        following = self.next_send(claimed.webhook_id)
        running_low = len(pace.waiting) <= low_mark
        sweep = self.saturated or running_low and (was_full or not was_low or claimed.webhook_id in self.offered)
        return following, sweep

    def seconds_until_token(self, now: float) -> float | None:
        """How long until a rate-limited webhook can send again; None when none is waiting
        for a token. `now` is the time the last claim was sized at: a bucket that filled
        up during the claim still held work back."""
        waits = [pace.bucket.seconds_until(now) for pace in self.paces.values() if pace.refilling(now)]
        return min(waits, default=None)
