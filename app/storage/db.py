"""Database connection and schema migrations.

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


def open_database(url: str) -> peewee.Database:
    """Connect the models to the database at `url`, creating a SQLite file's folder."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10, lock_type="IMMEDIATE")
    else:
        db = _PostgresqlDatabase(url.replace("postgres://", "postgresql://", 1))
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

    def __init__(self, url: str):
        super().__init__(url, prefer_psycopg3=True, options="-c timezone=UTC")

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
def once_across_processes(lock_id: int):
    """Yields True in the one process that may run a scheduled job that every process
    schedules (the retention purge), False in the others, which skip it rather than queue
    up to redo it. PostgreSQL: a session-level try-lock, since the job commits in many
    short transactions and a transaction-scoped lock would end with the first; the server
    drops it if the process dies. SQLite needs none: it serves one machine, and a job run
    twice there only finds less to do."""
    if is_sqlite():
        yield True
        return
    (held,) = database.execute_sql("SELECT pg_try_advisory_lock(%s)", (lock_id,)).fetchone()
    try:
        yield held
    finally:
        if held:
            database.execute_sql("SELECT pg_advisory_unlock(%s)", (lock_id,))


class SchemaVersion(peewee.Model):
    version = peewee.IntegerField()

    class Meta:
        database = database
        table_name = "schema_version"


def migrate() -> int:
    """Bring the schema to the newest version; safe to run on every start by every process,
    also at the same time: the first migrates, the others wait and find nothing to do."""
    from playhouse.migrate import SchemaMigrator, migrate as apply

    from app.storage import models

    def dashboard_tables():
        columns = {c.name for c in database.get_columns("webhook")}
        if "headers" not in columns:
            apply(SchemaMigrator.from_database(database.obj).add_column("webhook", "headers", models.Webhook.headers))
        database.create_tables(models.DASHBOARD_MODELS)

    def delivery_semantics():
        migrator = SchemaMigrator.from_database(database.obj)
        for model, name in models.DELIVERY_SEMANTICS_COLUMNS:
            if name not in {c.name for c in database.get_columns(model._meta.table_name)}:
                apply(migrator.add_column(model._meta.table_name, name, model._meta.fields[name]))
        database.execute_sql("CREATE INDEX IF NOT EXISTS delivery_recovery ON delivery (recovery)")
        database.create_tables([models.Recovery])

    def recovery_retry_budget():
        if "attempts_before_recovery" not in {c.name for c in database.get_columns("delivery")}:
            apply(SchemaMigrator.from_database(database.obj).add_column(
                "delivery", "attempts_before_recovery", models.Delivery.attempts_before_recovery))

    def webhook_soft_delete():
        if "deleted_at" not in {c.name for c in database.get_columns("webhook")}:
            migrator = SchemaMigrator.from_database(database.obj)
            apply(migrator.add_column("webhook", "deleted_at", models.Webhook.deleted_at))

    def api_key_last4():
        if "last4" not in {c.name for c in database.get_columns("api_key")}:
            apply(SchemaMigrator.from_database(database.obj).add_column("api_key", "last4", models.ApiKey.last4))

    def credential_headers():
        """Custom headers became secrets: encrypt the credentials saved in clear (rewriting a
        row encrypts what reading it found secret), and mask the copies past attempts logged."""
        models.Webhook.reencrypt_all()
        models.Attempt.mask_credential_headers()

    def browser_sessions():
        database.create_tables([models.BrowserSession])
        # Cookies and portal links are signed with keys derived from the encryption key now;
        # the old keys stored here would only help whoever holds a copy of the database.
        models.ServerSecret.delete().where(models.ServerSecret.name.in_(("session", "portal"))).execute()

    # Append only: each step runs once per database, in order; never edit a shipped step.
    migrations = [
        lambda: database.create_tables(models.ALL_MODELS),
        dashboard_tables,
        models.Webhook.reencrypt_all,  # secrets stored before encryption at rest
        delivery_semantics,
        recovery_retry_budget,
        webhook_soft_delete,
        # Ordered delivery looks up a webhook's oldest unfinished delivery on every claim.
        lambda: database.execute_sql(
            "CREATE INDEX IF NOT EXISTS delivery_webhook_id_status_created_at ON delivery (webhook_id, status, created_at)"
        ),
        api_key_last4,
        credential_headers,
        browser_sessions,
    ]
    with exclusive_transaction(SCHEMA_LOCK):
        database.create_tables([SchemaVersion])
        row = SchemaVersion.select().first()
        current = row.version if row else 0
        for version, step in enumerate(migrations[current:], start=current + 1):
            step()
            current = version
        if row is None:
            SchemaVersion.create(version=current)
        elif row.version != current:
            SchemaVersion.update(version=current).execute()
    return current
