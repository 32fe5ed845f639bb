"""Database connection and transactions; the one place that says which backend is in use.

The schema and its migrations are in app/storage/migrations.py.

The models bind to a proxy so that the database is chosen at start from the URL in
settings (SQLite file by default, PostgreSQL for scale-out) and never at import time.
SQLite runs in WAL mode with every transaction `BEGIN IMMEDIATE`: our transactions all
write, and taking the write lock up front lets the busy timeout queue writers instead of
failing one of them with "database is locked" when a read lock is upgraded.

PostgreSQL goes through psycopg 3 with one connection per thread, as Peewee keeps them,
opened on first use and closed when the thread ends (see `_PostgresqlDatabase`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from pathlib import Path

import peewee
import psycopg

database = peewee.DatabaseProxy()


class _HideQueryParameters(logging.Filter):
    """peewee's DEBUG log prints each query with its parameters: the session key, event
    payloads, request headers. Keep the SQL (useful for tracing), drop the values."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, tuple) and len(record.msg) == 2:
            record.msg = f"{record.msg[0]} [{len(record.msg[1] or ())} parameters not logged]"
            record.args = ()
        return True


logging.getLogger("peewee").addFilter(_HideQueryParameters())

# SQLite has one writer at a time. Threads of this process queue here, and are woken the
# moment the writer commits, instead of in SQLite's busy handler, which polls with sleeps
# of up to 100 ms and turned lock contention into seconds of latency.
_sqlite_writer = threading.Lock()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",  # durable across process crashes in WAL mode
    "foreign_keys": 1,
    "busy_timeout": 10_000,
}


def open_database(url: str, behind_pooler: bool = False) -> peewee.Database:
    """Connect the models to the database at `url`, creating a SQLite file's folder.
    `behind_pooler`: PostgreSQL through a pooler in transaction mode (database_direct_url
    is set), where statements are not prepared: a statement psycopg prepared on one server
    connection was looked for on another ("prepared statement _pg3_0 does not exist",
    PgBouncer before 1.21)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10, lock_type="IMMEDIATE")
    else:
        db = _PostgresqlDatabase(url.replace("postgres://", "postgresql://", 1), behind_pooler)
    database.initialize(db)
    return db


class _PostgresqlDatabase(peewee.PostgresqlDatabase):
    """Peewee's PostgreSQL database, with the connection lifetimes our threads need.

    Each thread that touches the database (the event loop's, anyio's worker threads that
    run route handlers, claims and records) gets its own connection and keeps it while it
    lives: no connect per query, and at most one connection per thread, which anyio caps
    (40 by default) and retires after 10 s idle. A connection is closed when its thread
    ends instead of being left to the garbage collector, and one the server dropped
    (restart, idle timeout) is replaced on next use rather than failing every query of
    that thread from then on. Timestamps are naive UTC (`timestamp without time zone`),
    so the session's time zone is pinned to UTC for anything PostgreSQL computes.
    """

    def __init__(self, url: str, behind_pooler: bool = False):
        unprepared = {"prepare_threshold": None} if behind_pooler else {}
        super().__init__(url, prefer_psycopg3=True, options="-c timezone=UTC", **unprepared)

    def _connect(self):
        conn = super()._connect()
        # The thread-local state outlives nothing but its thread: when the thread ends,
        # the sentinel goes and the finalizer closes the connection.
        self._state.sentinel = sentinel = _ThreadSentinel()
        weakref.finalize(sentinel, conn.close)
        return conn

    def cursor(self, named_cursor=None):
        conn = self._state.conn
        if conn is not None and conn.broken and not self.in_transaction():
            self.close()
        return super().cursor(named_cursor)


class _ThreadSentinel:
    """Lives in one thread's connection state; its finalizer closes that connection."""


def is_sqlite() -> bool:
    """The backend in use: SQLite, or else PostgreSQL (`open_database` opens one of the two).
    Everything that differs between them asks here."""
    return isinstance(database.obj, peewee.SqliteDatabase)


@contextlib.contextmanager
def write_transaction():
    """A transaction that writes. Other processes are still serialised by SQLite itself;
    PostgreSQL lets writers run side by side and locks rows, not the database."""
    if database.in_transaction():
        with savepoint():
            yield
    elif is_sqlite():
        with _sqlite_writer, database.atomic():
            yield
    else:
        with database.atomic():
            yield


_SAVEPOINT = '"hookline"'


@contextlib.contextmanager
def savepoint():
    """Peewee's nested atomic(), with one fixed savepoint name instead of a new uuid each:
    every new name was a new statement for the driver to prepare, ~10 us per savepoint, and
    each emitted event takes two. Nesting still works: RELEASE and ROLLBACK TO act on the
    most recent savepoint of a name (SQLite and PostgreSQL alike), and a rolled-back one
    is released at once so that an enclosing one is next in line."""
    database.execute_sql(f"SAVEPOINT {_SAVEPOINT}")
    try:
        yield
    except BaseException:
        database.execute_sql(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        database.execute_sql(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        raise
    database.execute_sql(f"RELEASE SAVEPOINT {_SAVEPOINT}")


# Advisory lock ids ("hook" + a number): one per piece of work that runs once at a time
# across every process on the database.
SCHEMA_LOCK = 0x686F6F6B_0001
RETENTION_LOCK = 0x686F6F6B_0002


@contextlib.contextmanager
def exclusive_transaction(lock_id: int = SCHEMA_LOCK):
    """A write transaction that one process at a time runs, for start-up work (migrations,
    seeding) that every process repeats. SQLite's write lock already makes it so;
    PostgreSQL takes a transaction-scoped advisory lock, released by commit or rollback,
    so a process that dies holding it cannot block the others."""
    with write_transaction():
        if not is_sqlite():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (lock_id,))
        yield


@contextlib.contextmanager
def once_across_processes(lock_id: int, direct_url: str):
    """Yields True in the one process that may run a scheduled job that every process
    schedules (the retention purge), False in the others, which skip it rather than queue
    up to redo it. PostgreSQL: a session-level try-lock, since the job commits in many
    short transactions and a transaction-scoped lock would end with the first. It is held
    by a connection of its own to `direct_url` (database_direct_url, past any pooler: behind
    PgBouncer in transaction mode the lock, the job and the unlock each land on whichever
    server connection is free, and a lock left on one blocks every later run), unlocked
    and closed when the job ends; the server drops the lock if the process dies. SQLite
    needs none: it serves one machine, and a job run twice there only finds less to do."""
    if is_sqlite():
        yield True
        return
    with psycopg.connect(direct_url.replace("postgres://", "postgresql://", 1), autocommit=True) as connection:
        (held,) = connection.execute("SELECT pg_try_advisory_lock(%s)", (lock_id,)).fetchone()
        try:
            yield held
        finally:
            # At once: a closed connection's backend drops its locks only as it exits. If
            # the connection broke, the server has dropped the lock with it.
            if held:
                with contextlib.suppress(psycopg.Error):
                    connection.execute("SELECT pg_advisory_unlock(%s)", (lock_id,))
