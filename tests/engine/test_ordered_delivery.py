"""Ordered webhooks: each event waits until the one before succeeded or ended failed.

Only a webhook's oldest unfinished delivery can be claimed, so a retry holds back the
rest, and a claim by one sender holds back every other sender sweeping the same queue.
"""

from __future__ import annotations

import asyncio

import pytest

from app.delivery.queue import claim_due
from app.storage.models import FAILED, SUCCEEDED, Delivery, Webhook
from tests.helpers import emit, make_webhook

pytestmark = pytest.mark.anyio


def ordered_webhook(settings, clock, url) -> Webhook:
    webhook = make_webhook(settings, clock, url)
    Webhook.update(ordered=True).where(Webhook.id == webhook.id).execute()
    return webhook


def emit_in_order(settings, clock, count: int) -> list[str]:
    """Events a millisecond apart: their order is the emit order, as with a real clock."""
    ids = []
    for n in range(count):
        ids.append(emit(settings, clock, data={"n": n}).event_id)
        clock.advance(0.001)
    return ids


def arrived(receiver) -> list[str]:
    return [r.headers["webhook-id"] for r in receiver.requests]


async def test_a_retry_of_the_oldest_holds_back_the_rest(db, settings, clock, receiver, engine):
    receiver.plan("/hook", 500, 500, 200)
    ordered_webhook(settings, clock, receiver.url())
    events = emit_in_order(settings, clock, 5)
    assert await engine.run() == 1
    assert await engine.run() == 0, "the later events wait while the first waits for its retry"
    clock.advance(5)
    assert await engine.run() == 1
    clock.advance(300)
    await engine.run()  # the first succeeds, and each recorded success lets the next go
    assert arrived(receiver) == [events[0]] * 3 + events[1:]
    assert receiver.max_in_flight == 1
    assert Delivery.select().where(Delivery.status != SUCCEEDED).count() == 0


async def test_a_dead_letter_lets_the_next_event_go(db, settings, clock, receiver, make_engine):
    settings = settings.replace(retry_schedule=(0,))
    receiver.plan("/hook", 500, 200)
    ordered_webhook(settings, clock, receiver.url())
    events = emit_in_order(settings, clock, 3)
    engine = await make_engine(settings)
    await engine.run()
    assert arrived(receiver) == events
    assert [d.status for d in Delivery.select().order_by(Delivery.created_at)] == [FAILED, SUCCEEDED, SUCCEEDED]


async def test_a_claim_holds_back_other_claimers(db, settings, clock, receiver):
    webhook = ordered_webhook(settings, clock, receiver.url())
    unordered = make_webhook(settings, clock, receiver.url("/other"))
    emit_in_order(settings, clock, 3)
    first = claim_due(clock(), 10, settings.lease_seconds)
    assert sorted(c.webhook_id for c in first) == sorted([webhook.id] + [unordered.id] * 3)
    assert claim_due(clock(), 10, settings.lease_seconds) == [], "the second in line waits for the first"
    clock.advance(settings.lease_seconds)
    (again,) = [c for c in claim_due(clock(), 10, settings.lease_seconds) if c.webhook_id == webhook.id]
    assert again.id == next(c.id for c in first if c.webhook_id == webhook.id), "an expired lease: the same one again"


async def test_two_senders_on_one_queue_never_reorder(db, settings, clock, receiver, make_engine):
    """Two dispatchers (as two processes would) sweep the same database at every step, side
    by side; the clock moves only between steps, once every send is recorded, so retries
    come due and no lease ever expires."""
    settings = settings.replace(retry_schedule=(0, 1, 1, 1, 1))
    receiver.plan("/hook", 500, 500, 200)
    ordered_webhook(settings, clock, receiver.url())
    events = emit_in_order(settings, clock, 10)
    senders = [(await make_engine(settings)).dispatcher for _ in range(2)]
    for _ in range(len(events) + 5):  # each step sends at least the oldest unfinished event
        await asyncio.gather(*(sender.sweep() for sender in senders))
        for sender in senders:
            await sender.drain(timeout=10)  # and the sweeps each recorded send wakes
        if Delivery.select().where(Delivery.status == SUCCEEDED).count() == len(events):
            break
        clock.advance(1)
    assert arrived(receiver) == [events[0]] * 3 + events[1:]
    assert receiver.max_in_flight == 1
