"""A webhook's `rate_limit` counted where it matters, at the receiver, when claims take
different times: an fsync on a busy disk makes one claim slow and the next quick. The
token of a paced webhook is spent when its request starts, after the claim's round trip;
spent when the claim began, a slow claim followed by a quick one let two requests out
closer than 1/rate, and six requests at 5/s fell within 0.93 s.

The first test moves an injected clock (a slow claim advances it); the second sends over
real loopback on the real clock, since what it measures is the engine's own pacing, and
records when each request reached the receiver.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from app.delivery.dispatcher import Dispatcher
from app.delivery.queue import claim_due
from app.rules.clock import system_clock
from app.storage.models import Webhook
from tests.helpers import Receiver, emit, make_webhook

pytestmark = pytest.mark.anyio

SLOW_CLAIM = 0.15  # seconds: every other claim takes this long


def most_in_one_second(arrivals: list[float]) -> int:
    """The largest number of arrivals in any window [t, t + 1), t an arrival (a window
    holding the most arrivals can always be moved to start at one)."""
    return max(sum(start <= other < start + 1 for other in arrivals) for start in arrivals)


class SlowEveryOtherClaim(Dispatcher):
    """Claims whose database round trip takes SLOW_CLAIM seconds, every other one: on the
    injected clock when it is a fake one, else for real."""

    claims = 0

    async def _write(self, function, *args):
        result = await super()._write(function, *args)
        if function is claim_due and result:
            self.claims += 1
            if self.claims % 2:
                if self.clock is system_clock:
                    await asyncio.sleep(SLOW_CLAIM)
                else:
                    self.clock.advance(SLOW_CLAIM)
        return result


class TimedReceiver(Receiver):
    """Notes when each request arrived, on the clock it is given."""

    def __init__(self, clock):
        self.clock = clock
        self.arrivals: list[float] = []
        super().__init__()

    async def app(self, scope, receive, send):
        if scope["type"] == "http":
            self.arrivals.append(self.clock())
        await super().app(scope, receive, send)


async def test_a_slow_claim_then_a_quick_one_keep_requests_one_over_the_rate_apart(db, settings, clock, make_engine):
    rate, events = 5, 10
    start = clock()
    receiver = TimedReceiver(lambda: (clock() - start).total_seconds()).start()
    try:
        webhook = make_webhook(settings, clock, receiver.url())
        Webhook.update(rate_limit=rate).where(Webhook.id == webhook.id).execute()
        for _ in range(events):
            emit(settings, clock)
        dispatcher = (await make_engine(kind=SlowEveryOtherClaim)).dispatcher
        step = 1 / 20  # sweeps as often as other work (emits, freed slots) would wake them
        for _ in range(200):
            await dispatcher.sweep()
            await dispatcher.drain(timeout=10)
            if len(receiver.arrivals) == events:
                break
            clock.advance(step)
    finally:
        receiver.stop()
    arrivals = receiver.arrivals
    assert len(arrivals) == events
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
    assert min(gaps) >= 1 / rate - 1e-9, gaps
    assert most_in_one_second(arrivals) <= rate
    assert max(gaps) <= 1 / rate + SLOW_CLAIM + step + 1e-9, "a token waits for nothing but its own claim"


async def test_over_real_loopback_no_second_at_the_receiver_sees_more_than_the_rate(db, settings, make_engine):
    rate, events = 5, 8
    receiver = TimedReceiver(time.monotonic).start()
    try:
        webhook = make_webhook(settings, system_clock, receiver.url())
        Webhook.update(rate_limit=rate).where(Webhook.id == webhook.id).execute()
        for _ in range(events):
            emit(settings, system_clock)
        dispatcher = (await make_engine(clock=system_clock, kind=SlowEveryOtherClaim)).dispatcher
        for _ in range(1000):  # other work wakes the sender every few milliseconds; bounded
            dispatcher.wake()
            if len(receiver.arrivals) == events:
                break
            await asyncio.sleep(0.005)
        await dispatcher.drain(timeout=10)
    finally:
        receiver.stop()
    assert len(receiver.arrivals) == events
    assert most_in_one_second(receiver.arrivals) <= rate, [round(b - a, 3) for a, b in
                                                          zip(receiver.arrivals, receiver.arrivals[1:])]
