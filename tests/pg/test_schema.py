"""The schema on PostgreSQL: built from nothing, and every start after that finds it current."""

from __future__ import annotations

import concurrent.futures

from app.storage.db import database, migrate, open_database
from app.storage.models import ALL_MODELS, DASHBOARD_MODELS, Recovery
from app.services.setup import prepare_database


def test_migrations_build_the_schema_from_an_empty_database_and_rerun_as_no_ops(empty_pg_url):
    open_database(empty_pg_url)
    assert database.get_tables() == []
    newest = migrate()
    tables = set(database.get_tables())
    assert {m._meta.table_name for m in ALL_MODELS + DASHBOARD_MODELS + [Recovery]} <= tables
    columns = {c.name: c.data_type for c in database.get_columns("delivery")}
    assert columns["next_attempt_at"] == "timestamp without time zone"
    assert "recovery" in columns
    assert migrate() == newest
    assert database.execute_sql("SELECT version FROM schema_version").fetchall() == [(newest,)]
    database.close()
