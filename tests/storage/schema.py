"""What a schema is made of, read back from the database, so that two databases built
different ways (migrated, or created from today's models) can be compared. Shared by
tests/storage/test_migrations.py and tests/pg/test_schema.py."""

from __future__ import annotations

import peewee

from app.storage.db import database
from app.storage.migrations import SchemaVersion
from app.storage.models import BaseModel


def described() -> dict[str, tuple]:
    """Per table of the open database: its columns, indexes and foreign keys, each sorted by
    name. Column order is left out: a column added by a migration comes last, one that
    step 1 created from the models of its day sat where the model had it, and nothing
    reads columns by position."""
    return {
        table: (
            sorted((c.name, c.data_type, c.null, c.primary_key, c.default) for c in database.get_columns(table)),
            sorted((i.name, tuple(i.columns), i.unique) for i in database.get_indexes(table)),
            sorted((f.column, f.dest_table, f.dest_column) for f in database.get_foreign_keys(table)),
        )
        for table in database.get_tables()
    }


def created_from_the_models() -> dict[str, tuple]:
    """The schema today's models describe, created in the open (empty) database."""
    database.create_tables(peewee.sort_models([*BaseModel.__subclasses__(), SchemaVersion]))
    return described()
