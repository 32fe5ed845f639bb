"""Database connection and schema migrations.

The models bind to a proxy so that the database is chosen at start from the URL in
settings (SQLite file by default, PostgreSQL for scale-out) and never at import time.
SQLite runs in WAL mode with every transaction `BEGIN IMMEDIATE`: our transactions all
write, and taking the write lock up front lets the busy timeout queue writers instead of
failing one of them with "database is locked" when a read lock is upgraded.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import peewee
from playhouse.db_url import connect

database = peewee.DatabaseProxy()
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
        db = connect(url.replace("postgres://", "postgresql://", 1))
    database.initialize(db)
    return db


def is_sqlite() -> bool:
    return isinstance(database.obj, peewee.SqliteDatabase)


@contextlib.contextmanager
def write_transaction():
    """A transaction that writes. Other processes are still serialised by SQLite itself."""
    if is_sqlite() and not database.in_transaction():
        with _sqlite_writer, database.atomic():
            yield
    else:
        with database.atomic():
            yield


class SchemaVersion(peewee.Model):
    version = peewee.IntegerField()

    class Meta:
        database = database
        table_name = "schema_version"


def migrate() -> int:
    """Bring the schema to the newest version; safe to run on every start by every process."""
    from playhouse.migrate import SchemaMigrator, migrate as apply

    from app import models

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

    # Append only: each step runs once per database, in order; never edit a shipped step.
    migrations = [
        lambda: database.create_tables(models.ALL_MODELS),
        dashboard_tables,
        models.Webhook.reencrypt_all,  # secrets stored before encryption at rest
        delivery_semantics,
        # Ordered delivery looks up a webhook's oldest unfinished delivery on every claim.
        lambda: database.execute_sql(
            "CREATE INDEX IF NOT EXISTS delivery_webhook_id_status_created_at ON delivery (webhook_id, status, created_at)"
        ),
    ]
    with write_transaction():
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
