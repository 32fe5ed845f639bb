"""The scheduled retention purge runs once across the processes on one PostgreSQL database:
each process schedules it, the first to take the advisory lock purges, the others skip.

A run is kept in the middle of its purge by another connection holding the deliveries'
row locks, so two runs overlap for certain, without timing."""

from __future__ import annotations

import asyncio
import logging

import psycopg
import pytest

from app.scheduler import run_purge
from app.storage.db import RETENTION_LOCK
from app.storage.models import Delivery, Event
from tests.helpers import eventually_async, old_log

pytestmark = pytest.mark.anyio

SKIPPED = "retention: another process is purging; this one skipped the run"


async def test_two_scheduled_runs_at_once_one_purges_the_other_skips(db, settings, clock, caplog, engine):
    old_log(settings, clock, 30)
    dispatcher = engine.dispatcher
    with psycopg.connect(settings.database_url) as other, caplog.at_level(logging.INFO, logger="hookline.retention"):
        other.execute("SELECT id FROM delivery FOR UPDATE")  # the purging run waits here, holding the lock
        runs = [asyncio.create_task(run_purge(dispatcher, settings)) for _ in range(2)]
        await eventually_async(lambda: SKIPPED in caplog.text, 30, "one run to skip")
        assert Delivery.select().count() == 30, "the other run is still waiting, nothing deleted yet"
        other.commit()
        await asyncio.gather(*runs)

    messages = [r.getMessage() for r in caplog.records if r.name == "hookline.retention"]
    (purged,) = [m for m in messages if m != SKIPPED]
    assert messages.count(SKIPPED) == 1
    assert purged.startswith("retention: purged 30 deliveries, 30 attempts, 30 events")
    assert not Delivery.select().exists() and not Event.select().exists()


async def test_a_run_while_another_process_holds_the_lock_skips_and_the_next_one_purges(db, settings, clock, caplog, engine):
    old_log(settings, clock, 3)
    dispatcher = engine.dispatcher
    with caplog.at_level(logging.INFO, logger="hookline.retention"):
        with psycopg.connect(settings.database_url, autocommit=True) as other:
            other.execute("SELECT pg_advisory_lock(%s)", (RETENTION_LOCK,))
            await run_purge(dispatcher, settings)
            assert SKIPPED in caplog.text
            assert Delivery.select().count() == 3
            other.execute("SELECT pg_advisory_unlock(%s)", (RETENTION_LOCK,))  # its run is over
        await run_purge(dispatcher, settings)
    assert "retention: purged 3 deliveries" in caplog.text
    assert not Delivery.select().exists()
