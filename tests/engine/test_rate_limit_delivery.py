"""Per-webhook rate limits, counted at the receiver.

The fake clock moves in steps of 1/8 s and each step runs the sender to a standstill, so
the fake time of every request is known exactly; the signature timestamp (whole seconds
of the same clock) lets the receiver count requests per second as a user's would.
"""

from __future__ import annotations

import collections
import pytest

from app.rules.clock import system_clock
from app.storage.models import Webhook
from tests.helpers import emit, eventually_async, make_webhook

pytestmark = pytest.mark.anyio

RATE = 4
EVENTS = 12
STEP = 0.125


async def test_rate_limit_holds_at_the_receiver_and_others_are_not_slowed(db, settings, clock, receiver, engine):
    limited = make_webhook(settings, clock, receiver.url("/limited"))
    Webhook.update(rate_limit=RATE).where(Webhook.id == limited.id).execute()
    make_webhook(settings, clock, receiver.url("/free"))
    for _ in range(EVENTS):
        emit(settings, clock)

    arrivals: list[float] = []  # fake seconds since the start, one per request to /limited
    dispatcher = engine.dispatcher
    for step in range(40):
        await dispatcher.sweep()
        await dispatcher.drain(timeout=10)
        arrivals += [step * STEP] * (len(receiver.to("/limited")) - len(arrivals))
        if step == 0:
            assert len(receiver.to("/free")) == EVENTS, "the unlimited webhook got everything at once"
        clock.advance(STEP)
    await dispatcher.shutdown(timeout=0)

    assert len(arrivals) == EVENTS
    assert max(sum(t <= u < t + 1 for u in arrivals) for t in arrivals) == RATE, "no one-second window over the rate"
    assert arrivals[-1] == (EVENTS - 1) / RATE, "and the rate is used in full"
    per_second = collections.Counter(r.headers["webhook-timestamp"] for r in receiver.to("/limited"))
    assert max(per_second.values()) <= RATE


@pytest.mark.parametrize("rate", [4, 0.5])
async def test_a_paced_webhook_sends_again_once_the_injected_clock_passes_one_over_its_rate(
    db, settings, clock, receiver, engine, rate
):
    webhook = make_webhook(settings, clock, receiver.url())
    Webhook.update(rate_limit=rate).where(Webhook.id == webhook.id).execute()
    for _ in range(3):
        emit(settings, clock)
    assert await engine.run() == 1
    clock.advance(1 / rate * 0.99)
    await engine.run()
    assert len(receiver.requests) == 1, "no token yet"
    clock.advance(1 / rate * 0.01)
    await engine.run()
    assert len(receiver.requests) == 2, "the token refilled on the injected clock"


async def test_the_sender_wakes_when_a_token_refills(db, settings, receiver, make_engine):
    """One sweep only: the rest go out on the sender's own wake-ups at each refill."""
    webhook = make_webhook(settings, system_clock, receiver.url())
    Webhook.update(rate_limit=20).where(Webhook.id == webhook.id).execute()
    for _ in range(4):
        emit(settings, system_clock)
    dispatcher = (await make_engine(clock=system_clock)).dispatcher
    assert await dispatcher.sweep() == 1
    await eventually_async(lambda: len(receiver.requests) >= 4, what="all four, paced")
    assert len(receiver.requests) == 4
    await dispatcher.shutdown(timeout=5)
