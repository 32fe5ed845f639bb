"""Group commit of emitted events (app/storage/writer.py): many requests, one transaction,
each answered with its own outcome only after the commit."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.rules.errors import Conflict, InvalidInput
from app.services.events import Lookups, emit_event
from app.services.tenants import get_or_create_tenant
from app.storage.models import Delivery, Event, Tenant
from app.storage.writer import GroupWriter
from tests.helpers import ADMIN


def test_concurrent_emits_are_all_accepted_and_stored(api):
    api.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["order.*"]}, headers=ADMIN)

    def post(n):
        return api.post("/api/v1/events", json={"type": "order.created", "data": {"n": n}}, headers=ADMIN)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(post, range(50)))
    assert [r.status_code for r in responses] == [202] * 50
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 50
    assert Event.select().where(Event.id.in_(ids)).count() == 50
    assert Delivery.select().where(Delivery.event.in_(ids)).count() == 50


def test_concurrent_requests_with_one_idempotency_key_make_one_event(api):
    def post(_):
        body = {"type": "order.paid", "data": {"order": 1}}
        return api.post("/api/v1/events", json=body, headers={**ADMIN, "Idempotency-Key": "pay-1"})

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(post, range(20)))
    assert [r.status_code for r in responses] == [202] * 20
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    assert Event.select().where(Event.idempotency_key == "pay-1").count() == 1


async def _one_batch(settings, clock, jobs):
    """Queue every job before the writer starts, so they are all in its first batch."""
    writer = GroupWriter(clock, lambda: Lookups(settings))
    tasks = [asyncio.ensure_future(writer.write(job)) for job in jobs]
    await asyncio.sleep(0)  # each task runs up to its await: queued
    writer.start()
    try:
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        writer.stop()


def _emitting(settings, type_name, data, idempotency_key=None):
    def job(now, lookups):
        tenant = Tenant.get(Tenant.slug == "default")
        return emit_event(tenant, type_name, data, settings, now, idempotency_key, lookups=lookups)

    return job


@pytest.mark.anyio
async def test_a_bad_item_fails_alone_and_the_rest_of_its_batch_commits(db, settings, clock):
    outcomes = await _one_batch(settings, clock, [
        _emitting(settings, "order.created", {"n": 1}),
        _emitting(settings, "nope.unknown", {"n": 2}),
        _emitting(settings, "order.paid", {"n": 3}),
    ])
    assert isinstance(outcomes[1], InvalidInput) and "unknown event type 'nope.unknown'" in outcomes[1].message
    stored = {e.id: e.data for e in Event.select()}
    assert stored == {outcomes[0].event_id: '{"n":1}', outcomes[2].event_id: '{"n":3}'}


@pytest.mark.anyio
async def test_idempotency_within_one_batch_replays_or_conflicts(db, settings, clock):
    first, again, reused = await _one_batch(settings, clock, [
        _emitting(settings, "order.paid", {"n": 1}, "k1"),
        _emitting(settings, "order.paid", {"n": 1}, "k1"),
        _emitting(settings, "order.paid", {"n": 2}, "k1"),
    ])
    assert not first.replayed and again.replayed and again.event_id == first.event_id
    assert isinstance(reused, Conflict) and reused.field == "idempotency_key"
    assert Event.select().count() == 1


@pytest.mark.anyio
async def test_a_tenant_created_by_a_failed_item_is_not_reused_by_the_next(db, settings, clock):
    """The batch remembers tenants it found (Lookups.tenants), never one it created: that
    creation rolled back with the failing item's savepoint."""
    def emitting_for(slug, type_name):
        def job(now, lookups):
            tenant = get_or_create_tenant(slug, now, found=lookups.tenants)
            return emit_event(tenant, type_name, {}, settings, now, lookups=lookups)

        return job

    failed, emitted = await _one_batch(settings, clock, [
        emitting_for("newco", "nope.unknown"), emitting_for("newco", "order.paid"),
    ])
    assert isinstance(failed, InvalidInput)
    assert Event.get_by_id(emitted.event_id).tenant.slug == "newco"


@pytest.mark.anyio
async def test_stop_answers_what_is_already_queued(db, settings, clock):
    writer = GroupWriter(clock, lambda: Lookups(settings))
    tasks = [asyncio.ensure_future(writer.write(_emitting(settings, "order.created", {"n": n}))) for n in range(5)]
    await asyncio.sleep(0)
    writer.start()
    await asyncio.to_thread(writer.stop)
    emitted = await asyncio.gather(*tasks)
    assert Event.select().where(Event.id.in_([e.event_id for e in emitted])).count() == 5
    with pytest.raises(RuntimeError, match="stopped"):
        await writer.write(_emitting(settings, "order.created", {}))
