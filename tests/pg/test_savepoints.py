"""A lost creation race inside a shared transaction costs nothing on PostgreSQL.

Two writers create the same tenant (or auto-register the same event type) side by side:
the second insert waits for the first transaction, then fails on the unique index. On
PostgreSQL a failed statement aborts the whole transaction unless it ran in a savepoint,
so the loser's catch-and-read must happen inside one: then the item that lost the race
reads the winner's row and commits with the rest of its group commit (or batch), instead
of failing, or failing the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading

import anyio.to_thread
import psycopg
import pytest

from app.services.catalog import emittable_type
from app.services.events import EmitItem, Lookups, emit_event, emit_events
from app.services.tenants import NamedTenant, for_write, get_or_create_tenant
from app.storage.db import database
from app.storage.models import Event, EventType, Tenant
from app.storage.writer import GroupWriter
from tests.helpers import eventually_async


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, auto_register_event_types=True)


@contextlib.asynccontextmanager
async def holding_uncommitted(settings, clock, pg_url, create):
    """Run `create(now, lookups)` in a group commit of one writer and keep that transaction
    open. Yields `someone_waits`, which waits until another connection waits for a lock (the
    racing insert) and then lets the transaction commit, and the value `create` returned."""
    created, release = threading.Event(), threading.Event()
    result = {}

    def job(now, lookups):
        result["value"] = create(now, lookups)
        created.set()
        release.wait(timeout=20)
        return result["value"]

    writer = GroupWriter(clock, lambda: Lookups(settings))
    writer.start()
    holder = asyncio.ensure_future(writer.write(job))
    try:
        await eventually_async(created.is_set, 10, "the first writer to create its row")

        async def someone_waits():
            await eventually_async(lambda: _waiting_on_a_lock(pg_url), 10, "the second insert to wait for the first")
            release.set()

        yield someone_waits, result["value"]
    finally:
        release.set()
        await holder
        writer.stop()


def _waiting_on_a_lock(pg_url: str) -> bool:
    with psycopg.connect(pg_url, autocommit=True) as observer:
        (waiting,) = observer.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return waiting > 0


async def one_batch_behind(settings, clock, pg_url, holder, jobs):
    """`jobs` in one group commit (each queued before the writer starts, so they share its
    first transaction) while another writer holds `holder`'s uncommitted creation; returns
    what the holder and each job returned."""
    async with holding_uncommitted(settings, clock, pg_url, holder) as (someone_waits, held):
        writer = GroupWriter(clock, lambda: Lookups(settings))
        tasks = [asyncio.ensure_future(writer.write(job)) for job in jobs]
        await asyncio.sleep(0)
        writer.start()
        try:
            await someone_waits()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            writer.stop()
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    return held, outcomes


def emitting(settings, slug, type_name):
    def job(now, lookups):
        tenant = get_or_create_tenant(slug, now, found=lookups.tenants)
        return emit_event(tenant, type_name, {"for": slug}, settings, now, lookups=lookups)

    return job


def creating_tenant(slug):
    return lambda now, lookups: get_or_create_tenant(slug, now, found=lookups.tenants).id


@pytest.mark.anyio
async def test_a_group_commit_item_that_loses_a_tenant_race_commits_with_its_batch(db, settings, clock, pg_url):
    winner_id, outcomes = await one_batch_behind(settings, clock, pg_url, creating_tenant("newco"), [
        emitting(settings, "default", "order.created"),
        emitting(settings, "newco", "order.created"),
        emitting(settings, "default", "order.paid"),
    ])
    stored = {e.id: e.tenant_id for e in Event.select()}
    assert set(stored) == {o.event_id for o in outcomes}
    assert stored[outcomes[1].event_id] == winner_id
    assert Tenant.select().where(Tenant.slug == "newco").count() == 1


@pytest.mark.anyio
async def test_a_group_commit_item_that_loses_an_event_type_race_commits_with_its_batch(db, settings, clock, pg_url):
    def registering(now, lookups):
        return emittable_type("brand.new", now, auto_register=True)

    _, outcomes = await one_batch_behind(settings, clock, pg_url, registering, [
        emitting(settings, "default", "order.created"),
        emitting(settings, "default", "brand.new"),
        emitting(settings, "default", "order.paid"),
    ])
    assert {e.id for e in Event.select()} == {o.event_id for o in outcomes}
    assert Event.get_by_id(outcomes[1].event_id).type == "brand.new"
    assert EventType.select().where(EventType.name == "brand.new").count() == 1


@pytest.mark.anyio
async def test_a_batch_with_an_item_that_loses_a_race_is_stored_whole(db, settings, clock, pg_url):
    """POST /api/v1/events/batch's service: all or none, and a lost race is not a reason for none."""
    default = Tenant.get(Tenant.slug == "default")
    items = [EmitItem(default, "order.created", {"n": 1}), EmitItem(NamedTenant("newco"), "brand.new", {"n": 2}),
             EmitItem(default, "order.paid", {"n": 3})]

    def racing(now, lookups):
        for_write(NamedTenant("newco"), now)
        return emittable_type("brand.new", now, auto_register=True)

    def emit_batch():
        try:
            return emit_events(items, settings, clock())
        finally:
            database.close()  # this thread's connection

    async with holding_uncommitted(settings, clock, pg_url, racing) as (someone_waits, _):
        batch = asyncio.ensure_future(anyio.to_thread.run_sync(emit_batch))
        await someone_waits()
        emitted = await batch
    assert {e.id for e in Event.select()} == {e.event_id for e in emitted} and len(emitted) == 3
    assert Event.get_by_id(emitted[1].event_id).tenant.slug == "newco"
    assert Tenant.select().where(Tenant.slug == "newco").count() == 1


@pytest.mark.anyio
async def test_a_group_commit_item_that_loses_an_idempotency_race_replays_the_winner(db, settings, clock, pg_url):
    def keyed(now, lookups):
        tenant = get_or_create_tenant("default", now, found=lookups.tenants)
        return emit_event(tenant, "order.paid", {"order": 42}, settings, now, idempotency_key="order-42", lookups=lookups)

    first, outcomes = await one_batch_behind(settings, clock, pg_url, keyed, [
        emitting(settings, "default", "order.created"), keyed, emitting(settings, "default", "user.signed_up"),
    ])
    assert outcomes[1].replayed and outcomes[1].event_id == first.event_id
    assert {e.id for e in Event.select()} == {first.event_id, outcomes[0].event_id, outcomes[2].event_id}
