"""PostgreSQL for the tests in this folder: one real server per session, started by
scripts/postgres-server.sh (which installs Debian's postgresql when it is missing), and a
new, empty database per test, so every test sees a fresh schema as with SQLite files.

Run them alone with `.venv/bin/python -m pytest tests/pg -q`.
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from app.storage.db import database, open_database
from app.storage.migrations import migrate

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "postgres-server.sh"
CANNOT_INSTALL = 3  # the script's exit status when PostgreSQL is missing and cannot be installed

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL of the session's server (database `hookline`, role `hookline`)."""
    # Not under pytest's tmp_path: as root the server runs as `postgres`, and pytest's
    # folders are closed to other users.
    folder = tempfile.mkdtemp(prefix="hookline-pg-")
    started = subprocess.run([SCRIPT, "start", folder, "--no-fsync"], capture_output=True, text=True, timeout=600)
    if started.returncode == CANNOT_INSTALL:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL tests need a PostgreSQL server: {started.stderr.strip()}")
    assert started.returncode == 0, started.stderr
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([SCRIPT, "stop", folder], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def _database_url(server_url: str, name: str) -> str:
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def migrated_template(postgres_server: str) -> str:
    """A migrated database that each test's database is copied from: a copy takes ~40 ms,
    migrating a new one ~200 ms. Starting on it also runs every migration's no-op path."""
    name = "hookline_template"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    open_database(_database_url(postgres_server, name))
    migrate()
    database.close()  # a template must have no connections when it is copied
    return name


@pytest.fixture
def empty_pg_url(postgres_server: str) -> str:
    """A new, empty database for this test, dropped afterwards (with whatever is still
    connected to it: a killed worker's sessions, threads that have not ended yet)."""
    yield from _new_database(postgres_server, "template1")


@pytest.fixture
def pg_url(postgres_server: str, migrated_template: str) -> str:
    """A new database with the current schema for this test, dropped afterwards."""
    yield from _new_database(postgres_server, migrated_template)


def _new_database(server_url: str, template: str):
    name = f"hookline_test_{next(_database_numbers)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield _database_url(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def settings(settings, pg_url):
    """The suite's settings, on PostgreSQL: every fixture built on them (db, api, env) follows."""
    return dataclasses.replace(settings, database_url=pg_url)
