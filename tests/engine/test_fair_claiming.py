"""Fair claiming: one webhook's backlog or hanging receiver does not hold up the others.

Claims take turns across webhooks and never exceed a webhook's free slots, so the send
slots a slow receiver can hold are capped and the rest keep flowing.
"""

from __future__ import annotations

import collections
import contextlib

import pytest

from app.delivery.queue import claim_due
from app.storage.models import DELIVERING, PENDING, SUCCEEDED, Delivery, Webhook
from tests.helpers import Receiver, Reply, emit, eventually_async, make_webhook

pytestmark = pytest.mark.anyio


def by_webhook(claims) -> collections.Counter:
    return collections.Counter(c.webhook_id for c in claims)


def statuses(webhook: Webhook) -> collections.Counter:
    return collections.Counter(d.status for d in Delivery.select().where(Delivery.webhook == webhook.id))


async def test_claims_take_turns_across_webhooks(db, settings, clock, receiver):
    backlog = make_webhook(settings, clock, receiver.url("/backlog"), events=["order.created"])
    for _ in range(10):
        emit(settings, clock, "order.created")
    clock.advance(1)
    quiet = make_webhook(settings, clock, receiver.url("/quiet"), events=["order.paid"])
    for _ in range(3):
        emit(settings, clock, "order.paid")

    claims = claim_due(clock(), 4, settings.lease_seconds, per_webhook=10)
    assert by_webhook(claims) == {backlog.id: 2, quiet.id: 2}, "oldest of each, then the next of each"
    assert by_webhook(claim_due(clock(), 100, settings.lease_seconds, per_webhook=2)) == {backlog.id: 2, quiet.id: 1}


async def test_quotas_from_the_sender_and_the_webhook_bound_each_claim(db, settings, clock, receiver):
    capped = make_webhook(settings, clock, receiver.url("/capped"))
    other = make_webhook(settings, clock, receiver.url("/other"))
    Webhook.update(max_in_flight=3).where(Webhook.id == capped.id).execute()
    for _ in range(10):
        emit(settings, clock)

    assert by_webhook(claim_due(clock(), 100, settings.lease_seconds, per_webhook=5, quotas={other.id: 0})) == {capped.id: 3}
    assert by_webhook(claim_due(clock(), 100, settings.lease_seconds, per_webhook=5, quotas={capped.id: 1})) == {
        capped.id: 1, other.id: 5}


async def test_a_rate_limited_webhook_unknown_to_the_sender_gets_one_row(db, settings, clock, receiver):
    limited = make_webhook(settings, clock, receiver.url())
    Webhook.update(rate_limit=50).where(Webhook.id == limited.id).execute()
    for _ in range(5):
        emit(settings, clock)
    assert by_webhook(claim_due(clock(), 100, settings.lease_seconds, per_webhook=5)) == {limited.id: 1}


@pytest.mark.parametrize("webhook_cap", [None, 2], ids=["default cap", "webhook max_in_flight"])
async def test_hanging_receiver_does_not_delay_a_healthy_one(db, settings, clock, receiver, webhook_cap, make_engine):
    """20 deliveries to a receiver that hangs until the timeout, emitted first; then 10 to a
    healthy one. Oldest-first claiming would give every slot to the hanging receiver."""
    settings = settings.replace(max_concurrency=8, max_in_flight_per_webhook=3, request_timeout=10)
    cap = webhook_cap or 3
    hanging_receiver = Receiver().start()
    try:
        hanging_receiver.plan("/hook", Reply(200, delay=30))
        hanging = make_webhook(settings, clock, hanging_receiver.url(), events=["order.created"])
        Webhook.update(max_in_flight=webhook_cap).where(Webhook.id == hanging.id).execute()
        for _ in range(20):
            emit(settings, clock, "order.created")
        clock.advance(1)
        healthy = make_webhook(settings, clock, receiver.url(), events=["order.paid"])
        for _ in range(10):
            emit(settings, clock, "order.paid")

        dispatcher = (await make_engine(settings)).dispatcher
        await dispatcher.sweep()
        await eventually_async(lambda: statuses(healthy)[SUCCEEDED] == 10, what="every healthy delivery")
        assert len(receiver.requests) == 10
        assert hanging_receiver.in_flight == cap, "the hanging requests are still open"
        assert statuses(hanging) == {DELIVERING: cap, PENDING: 20 - cap}
        await dispatcher.sweep()
        assert hanging_receiver.max_in_flight == cap
        await dispatcher.shutdown(timeout=0)
    finally:
        hanging_receiver.stop()


@contextlib.asynccontextmanager
async def six_behind_a_cap_of_two(make_engine, settings, clock, receiver, reply: Reply):
    """A webhook capped at 2 sends at once, 6 deliveries due, and a dispatcher whose first
    sweep has started the first 2; yields the dispatcher and the webhook."""
    receiver.plan("/hook", reply)
    webhook = make_webhook(settings, clock, receiver.url())
    for _ in range(6):
        emit(settings, clock)
    dispatcher = (await make_engine(settings)).dispatcher
    assert await dispatcher.sweep() == 2, "the cap, and nothing claimed ahead before the webhook answered"
    yield dispatcher, webhook
    await dispatcher.drain(timeout=10)


async def test_a_freed_slot_sends_what_waited_behind_the_cap(db, settings, clock, receiver, make_engine):
    settings = settings.replace(max_in_flight_per_webhook=2)
    async with six_behind_a_cap_of_two(make_engine, settings, clock, receiver, Reply(200, delay=0.1)) as (_, webhook):
        pass  # each recorded send wakes a sweep for the next
    assert statuses(webhook) == {SUCCEEDED: 6}
    assert receiver.max_in_flight == 2


async def test_a_webhook_that_answers_gets_deliveries_claimed_ahead_within_its_cap(db, settings, clock, receiver, make_engine):
    """After its first 2xx, a webhook at its cap has as many more claimed and waiting, each
    started as a request ends; the receiver never sees more than the cap at once."""
    settings = settings.replace(max_in_flight_per_webhook=2)
    async with six_behind_a_cap_of_two(make_engine, settings, clock, receiver, Reply(200, delay=0.5)) as (_, webhook):
        await eventually_async(lambda: statuses(webhook) == {SUCCEEDED: 2, DELIVERING: 4},
                               what="2 sending and 2 claimed ahead after the first answers")
        assert receiver.in_flight <= 2
    assert statuses(webhook) == {SUCCEEDED: 6}
    assert receiver.max_in_flight == 2 and len(receiver.requests) == 6


async def test_a_failing_webhook_gets_nothing_claimed_ahead(db, settings, clock, receiver, make_engine):
    settings = settings.replace(max_in_flight_per_webhook=2, retry_schedule=(0, 3600))
    claimed_at_once = []
    async with six_behind_a_cap_of_two(make_engine, settings, clock, receiver, Reply(500, delay=0.2)) as (_, webhook):

        def every_delivery_tried():
            claimed_at_once.append(statuses(webhook)[DELIVERING])
            return statuses(webhook)[PENDING] == 6 and all(d.attempts for d in Delivery.select())

        await eventually_async(every_delivery_tried, what="each delivery tried once")
    assert max(claimed_at_once) == 2, "claimed no more than it could send"
    assert receiver.max_in_flight == 2


async def test_claims_ahead_are_topped_up_without_a_tick_or_an_emit(db, settings, clock, receiver, make_engine):
    """A backlog emitted at once (a batch) keeps flowing on wake-ups from the sends alone:
    as the claimed-ahead queue runs low, a sweep refills it, whether or not the webhook
    was at its cap when the send ended."""
    settings = settings.replace(max_in_flight_per_webhook=4)
    receiver.plan("/hook", Reply(200, delay=0.05))
    webhook = make_webhook(settings, clock, receiver.url())
    for _ in range(40):
        emit(settings, clock)
    dispatcher = (await make_engine(settings)).dispatcher
    assert await dispatcher.sweep() == 4
    await dispatcher.drain(timeout=20)
    assert statuses(webhook) == {SUCCEEDED: 40}
    assert receiver.max_in_flight == 4
