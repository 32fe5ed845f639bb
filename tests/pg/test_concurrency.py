"""Races that SQLite never has, because it lets one writer in at a time: on PostgreSQL
writers run side by side, and the database's locks must still give one answer."""

from __future__ import annotations

import concurrent.futures
import threading

import psycopg

from app.services.catalog import BUILT_IN
from app.services.events import emit_event
from app.storage.db import database, open_database
from app.storage.migrations import SchemaVersion
from app.storage.models import Event, EventType, Tenant
from tests.helpers import eventually, run_hookline


def test_two_requests_with_the_same_idempotency_key_make_one_event(db, settings, clock, pg_url):
    """Both requests look for the key before either has inserted it; the unique index
    makes the second insert wait for the first commit and fail, and it answers with the
    first request's event."""
    tenant = Tenant.get(Tenant.slug == "default")
    start = threading.Barrier(2)

    def emit(n: int):
        start.wait(timeout=10)
        try:
            # the same request sent twice (a retry): a different body would be a 409 conflict
            return emit_event(tenant, "order.created", {"order": 42}, settings, clock(), idempotency_key="order-42")
        finally:
            database.close()  # this thread's connection; the pool's threads end with the test

    # A SHARE lock lets both requests read (the key is not there yet) but holds both
    # inserts until it is released: the race is certain, not a matter of luck.
    with psycopg.connect(pg_url) as blocker:
        blocker.execute("LOCK TABLE event IN SHARE MODE")
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = [pool.submit(emit, n) for n in (1, 2)]
            eventually(lambda: _waiting_on_a_lock(blocker) == 2, 10, "both inserts to wait for the table lock")
            blocker.commit()
            first, second = sorted((a.result(timeout=10) for a in answers), key=lambda e: e.replayed)

    assert not first.replayed and second.replayed
    assert first.event_id == second.event_id
    assert Event.select().where(Event.idempotency_key == "order-42").count() == 1


def _waiting_on_a_lock(conn: psycopg.Connection) -> int:
    with psycopg.connect(conn.info.dsn, autocommit=True) as observer:
        (waiting,) = observer.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return waiting


def test_processes_starting_together_on_an_empty_database_migrate_once(env, tmp_path, empty_pg_url, settings):
    """Every process migrates and seeds at start; four at once must not trip over each
    other (the advisory lock makes them take turns)."""
    env = {**env, "HOOKLINE_DATABASE_URL": empty_pg_url}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: run_hookline(["create-key", "--tenant", f"team{n}"], env, tmp_path), range(4)))
    assert [r.returncode for r in results] == [0] * 4, [r.stderr for r in results]

    open_database(empty_pg_url)
    try:
        assert SchemaVersion.select().count() == 1
        names = [e.name for e in EventType.select()]
        assert sorted(names) == sorted({seed.name for seed in BUILT_IN + settings.event_types})
        assert Tenant.select().where(Tenant.slug == "default").count() == 1
    finally:
        database.close()
