"""The system clock jumps (NTP after a suspend, a VM restored from a snapshot) while
deliveries wait in every state: queued, waiting for a retry, claimed by a process that
died (a lease), and in flight in this one.

Due-ness compares stored times with now, so a jump back delays what was scheduled
before it by the size of the jump, while new events still go out at once; a jump
forward makes everything due, and an expired lease is claimed again exactly once (a send
still in flight then counts as expired too, so it may go out twice). In every case each
event arrives, no send raises, and nothing stays `delivering`.
"""

from __future__ import annotations

import logging

import pytest

from app.delivery.dispatcher import Dispatcher
from app.delivery.queue import claim_due
from app.storage.models import DELIVERING, PENDING, SUCCEEDED, Attempt, Delivery, Webhook
from tests.helpers import Reply, emit, eventually_async, make_webhook

pytestmark = pytest.mark.anyio

HOUR, DAY = 3600, 86400


@pytest.fixture(autouse=True)
def no_errors_logged(caplog):
    yield
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def in_every_state(settings, clock, receiver, dispatcher: Dispatcher) -> dict[str, str]:
    """One delivery waiting for a retry (5 s), one leased by a process that died (30 s),
    and one being sent right now; returns their delivery ids by state."""
    receiver.plan("/retry", 500, 200)
    receiver.plan("/slow", Reply(200, delay=1))
    for path, event_type in (("/retry", "order.created"), ("/leased", "order.paid"), ("/slow", "user.signed_up")):
        make_webhook(settings, clock, receiver.url(path), events=[event_type])

    emit(settings, clock, "order.created")
    assert await dispatcher.sweep() == 1
    await dispatcher.drain(timeout=10)
    emit(settings, clock, "order.paid")
    assert len(claim_due(clock(), 10, settings.lease_seconds)) == 1  # and then the claimer died
    emit(settings, clock, "user.signed_up")
    assert await dispatcher.sweep() == 1
    await eventually_async(lambda: receiver.in_flight, what="the slow send to be in flight")
    return {state: _delivery_to(receiver.url(path)) for state, path in
            (("retry", "/retry"), ("leased", "/leased"), ("in flight", "/slow"))}


def _delivery_to(url: str) -> str:
    return Delivery.select(Delivery.id).join(Webhook).where(Webhook.url == url).scalar()


def status(delivery_id: str) -> str:
    return Delivery.get_by_id(delivery_id).status


async def test_a_jump_back_delays_what_was_scheduled_and_loses_nothing(db, settings, clock, receiver, engine):
    dispatcher = engine.dispatcher
    ids = await in_every_state(settings, clock, receiver, dispatcher)

    clock.advance(-HOUR)
    await dispatcher.drain(timeout=10)
    assert status(ids["in flight"]) == SUCCEEDED, "a send that straddles the jump is recorded as usual"

    emit(settings, clock, "user.signed_up")
    assert await dispatcher.sweep() == 1, "an event emitted after the jump goes out at once"
    await dispatcher.drain(timeout=10)
    assert (status(ids["retry"]), status(ids["leased"])) == (PENDING, DELIVERING)
    clock.advance(HOUR)
    assert await dispatcher.sweep() == 0, "the retry is due 5 s, the lease ends 30 s after the time they were set"

    clock.advance(settings.lease_seconds)
    assert await dispatcher.sweep() == 2
    await dispatcher.drain(timeout=10)
    assert {d.status for d in Delivery.select()} == {SUCCEEDED}
    assert [len(receiver.to(path)) for path in ("/retry", "/leased", "/slow")] == [2, 1, 2]


async def test_a_jump_forward_claims_each_expired_lease_once(db, settings, clock, receiver, engine):
    dispatcher = engine.dispatcher
    ids = await in_every_state(settings, clock, receiver, dispatcher)
    emit(settings, clock, "order.paid")  # queued, not yet swept

    clock.advance(2 * DAY)
    await dispatcher.drain(timeout=10)
    assert status(ids["in flight"]) == SUCCEEDED
    assert await dispatcher.sweep() == 3, "the retry, the expired lease and the queued event"
    await dispatcher.drain(timeout=10)
    clock.advance(settings.lease_seconds)
    assert await dispatcher.sweep() == 0, "no lease was left behind to claim again"
    assert {d.status for d in Delivery.select()} == {SUCCEEDED}
    assert [len(receiver.to(path)) for path in ("/retry", "/leased", "/slow")] == [2, 2, 1]


async def test_a_jump_forward_past_the_lease_mid_send_may_send_it_twice(db, settings, clock, receiver, engine):
    """The sweep cannot tell an expired lease of its own from a dead process's: the send is
    made again, with the same webhook-id, and the first one's late result only joins the log."""
    dispatcher = engine.dispatcher
    ids = await in_every_state(settings, clock, receiver, dispatcher)

    clock.advance(2 * DAY)
    assert await dispatcher.sweep() == 3, "the retry, the dead process's lease and the send in flight"
    await dispatcher.drain(timeout=10)
    delivery = Delivery.get_by_id(ids["in flight"])
    assert (delivery.status, delivery.attempts) == (SUCCEEDED, 1)
    assert Attempt.select().where(Attempt.delivery == delivery.id).count() == 2
    first, second = receiver.to("/slow")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert {d.status for d in Delivery.select()} == {SUCCEEDED}
