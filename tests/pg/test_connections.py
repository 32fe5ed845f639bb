"""Connections on PostgreSQL: one per thread, gone with the thread, replaced when the
server drops it."""

from __future__ import annotations

import threading

import peewee
import psycopg
import pytest

from app.storage.db import database
from app.storage.models import Tenant
from tests.helpers import eventually


def _backend_pid() -> int:
    return database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


def _connected(pg_url: str, pid: int) -> bool:
    with psycopg.connect(pg_url, autocommit=True) as observer:
        return observer.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0] == 1


def test_each_thread_has_its_own_connection_closed_when_the_thread_ends(db, pg_url):
    pids = []
    thread = threading.Thread(target=lambda: pids.append(_backend_pid()))
    thread.start()
    thread.join(timeout=10)
    assert pids and pids[0] != _backend_pid()
    eventually(lambda: not _connected(pg_url, pids[0]), 10, "the ended thread's connection to close")


def test_a_connection_the_server_dropped_is_replaced(db, pg_url):
    dropped = _backend_pid()
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (dropped,))
    with pytest.raises(peewee.OperationalError):
        Tenant.select().count()  # the query that finds out
    assert Tenant.select().where(Tenant.slug == "default").count() == 1
    assert _backend_pid() != dropped
