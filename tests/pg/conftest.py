"""The tests in this folder check what only PostgreSQL does (LISTEN/NOTIFY, row locks,
advisory locks, several processes on one database), so they always run on it: the server
and per-test database fixtures are in tests/conftest.py, which `--db=postgres` uses to run
the suites marked `postgres` there.

Run them alone with `.venv/bin/python -m pytest tests/pg -q`.
"""

from __future__ import annotations

import dataclasses

import pytest


@pytest.fixture
def settings(settings, pg_url):
    """The suite's settings, on PostgreSQL: every fixture built on them (db, api, env) follows."""
    return dataclasses.replace(settings, database_url=pg_url)
