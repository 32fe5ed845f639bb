"""Shared fixtures: a real receiver on 127.0.0.1, a SQLite file per test, a movable clock.
What is not a fixture lives in tests/helpers.py.

`--db=postgres` runs the tests marked `postgres` (and only those) again with their
database on PostgreSQL: one real server per session, started by scripts/postgres-server.sh
(which installs Debian's postgresql when it is missing), and a new database per test, so
every test sees a fresh schema as with SQLite files. `make test` runs the suite, then
`--db=postgres`; tests/pg (PostgreSQL-only behaviour) uses the same server fixtures.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from app.config import EventTypeSeed, Settings
from app.services.setup import prepare_database
from app.storage.db import database
from tests.helpers import (
    ADMIN_KEY, ADMIN_PASSWORD, ADMIN_USER, ENCRYPTION_KEY, NO_JITTER, Dashboard, FakeClock, Receiver, hookline_env,
    key_for, serving, sign_in,
)

POSTGRES_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "postgres-server.sh"
CANNOT_INSTALL = 3  # the script's exit status when PostgreSQL is missing and cannot be installed

_database_numbers = itertools.count(1)


def pytest_addoption(parser):
    parser.addoption(
        "--db", choices=("sqlite", "postgres"), default="sqlite",
        help="postgres: run only the tests marked `postgres`, on a PostgreSQL server this session starts",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: run again on PostgreSQL by --db=postgres (the database matters)")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    on_postgres = config.getoption("db") == "postgres"
    if on_postgres:
        deselected = [item for item in items if item.get_closest_marker("postgres") is None]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if item.get_closest_marker("postgres") is not None]
    keep_shared_fixtures_on_one_worker(items, one_postgres_server=not on_postgres)


def keep_shared_fixtures_on_one_worker(items, one_postgres_server: bool) -> None:
    """For `make test`'s parallel runs (pytest-xdist, `--dist loadgroup`), which send each
    test to whichever worker is free: the tests of a module with a module-scoped fixture (a
    server, real deliveries) stay on one worker, which builds it once. In the SQLite run so
    do the few tests on PostgreSQL (tests/pg), which then start one server, not one per
    worker; with `--db=postgres`, where every test is on it, each worker starts its own."""
    for item in items:
        definitions = item._fixtureinfo.name2fixturedefs
        if one_postgres_server and "postgres_server" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group("postgres"))
        elif any(d.scope == "module" for defs in definitions.values() for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes():
    """argon2 at its lowest cost in the test process: the default costs ~0.2 s of CPU per
    hash or check, and a dashboard test makes an account and signs in. Each hash carries
    its parameters, so `hookline` subprocesses (which hash at the default cost) and the
    tests still check each other's hashes."""
    from argon2 import PasswordHasher

    from app.services import users

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "_hasher", cheap)
        patch.setattr(users, "_DUMMY_HASH", cheap.hash("not a real password"))
        yield


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(request, tmp_path) -> Settings:
    """On a SQLite file under tmp_path, or with --db=postgres on a new PostgreSQL database."""
    if request.config.getoption("db") == "postgres":
        database_url = request.getfixturevalue("pg_url")
    else:
        database_url = f"sqlite:///{tmp_path}/hookline.db"
    return Settings(
        database_url=database_url,
        admin_key=ADMIN_KEY,
        encryption_keys=(ENCRYPTION_KEY,),
        allow_http=True,
        allow_private_networks=("127.0.0.0/8",),
        request_timeout=2,
        lease_seconds=30,
        event_types=(EventTypeSeed("order.created"), EventTypeSeed("order.paid"), EventTypeSeed("user.signed_up")),
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file with today's schema that `db` and `api` copy as the test's database: a
    copy takes ~2 ms, migrating a new file ~50 ms (~200 ms on a busy machine), and most
    tests start on one. The migrations themselves are tested from empty and older files
    in tests/storage/test_migrations.py."""
    from app.storage.db import open_database
    from app.storage.migrations import migrate

    path = tmp_path_factory.mktemp("template") / "hookline.db"
    in_use = database.obj  # made at a test's set-up, maybe after a fixture opened its database
    open_database(f"sqlite:///{path}")
    migrate()
    database.close()  # the last connection checkpoints the write-ahead log into the file
    database.initialize(in_use)
    assert not path.with_name("hookline.db-wal").exists()
    return path


@pytest.fixture
def migrated_file(request, settings) -> None:
    """The test's SQLite file, if not made yet, starts as a copy of `sqlite_template`;
    Hookline then finds nothing to migrate and seeds it as it would any database."""
    if not settings.database_url.startswith("sqlite:///"):
        return
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)


@pytest.fixture
def db(settings, clock, migrated_file):
    """The schema, the default tenant, the catalog and the admin key, in a fresh SQLite file."""
    prepare_database(settings, clock)
    yield database
    database.close()


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Engine:
    """The sender driven by hand: each `run()` sweeps what is due at the clock's time and
    waits for the sends to finish, so retry timing needs no sleeping. `dispatcher` is the
    sender itself, for tests that sweep, renew or drain step by step."""

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher

    async def run(self) -> int:
        started = await self.dispatcher.sweep()
        await self.dispatcher.drain(timeout=10)
        return started


@pytest.fixture
async def make_engine(settings, clock):
    """The one place tests build a sender. `await make_engine()` is an engine with the
    test's settings and clock; `make_engine(other_settings, clock=, transport=, kind=, tracing=)`
    one with others (`kind`: a Dispatcher subclass that changes a step; `tracing`: spans
    exported, app/delivery/tracing.py). Each call is another process sweeping the same database, with a client of its own; each is shut
    down at the end of the test (request `db` or `api` before this fixture: their
    database outlives it)."""
    from app.delivery.dispatcher import Dispatcher
    from app.delivery.outbound import build_client
    from app.services.webhook_health import observe_health

    async with contextlib.AsyncExitStack() as stack:
        async def make(settings=settings, clock=clock, transport=None, kind=Dispatcher, writer=None,
                       tracing=None) -> Engine:
            client = await stack.enter_async_context(build_client(settings, transport))
            dispatcher = kind(settings, client, clock, random=NO_JITTER, writer=writer, observe_health=observe_health,
                              tracing=tracing)
            stack.push_async_callback(dispatcher.shutdown, 0)
            return Engine(dispatcher)

        yield make


@pytest.fixture
async def engine(db, make_engine) -> Engine:
    return await make_engine()


@pytest.fixture
def api(settings, clock, migrated_file):
    """The API without a sender: deliveries stay queued, so tests can inspect them."""
    with serving(settings, clock, run_sender=False) as client:
        yield client


@pytest.fixture
def tenant_key(api, clock):
    """A key of tenant "acme" (and a webhook-less tenant to go with it)."""
    return key_for("acme", clock)


@pytest.fixture
def other_tenant_key(api, clock):
    return key_for("globex", clock)


@pytest.fixture
def dashboard(api, clock) -> Dashboard:
    """Signed in as the admin user `ada` (tenant "default"), sender not running."""
    from app.services.users import create_first_admin

    create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
    return sign_in(api)


@pytest.fixture
def env(settings) -> dict:
    """The environment of a `hookline` subprocess on the test's database."""
    return hookline_env(settings)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL of the session's server (database `hookline`, role `hookline`)."""
    # Not under pytest's tmp_path: as root the server runs as `postgres`, and pytest's
    # folders are closed to other users.
    folder = tempfile.mkdtemp(prefix="hookline-pg-")
    started = subprocess.run(
        [POSTGRES_SCRIPT, "start", folder, "--no-fsync"], capture_output=True, text=True, timeout=600
    )
    if started.returncode == CANNOT_INSTALL:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL tests need a PostgreSQL server: {started.stderr.strip()}")
    assert started.returncode == 0, started.stderr
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([POSTGRES_SCRIPT, "stop", folder], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def _database_url(server_url: str, name: str) -> str:
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def migrated_template(postgres_server: str) -> str:
    """A migrated database that each test's database is copied from: a copy takes ~40 ms,
    migrating a new one ~200 ms. Starting on it also runs every migration's no-op path."""
    import psycopg

    from app.storage.db import open_database
    from app.storage.migrations import migrate

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
    import psycopg

    name = f"hookline_test_{next(_database_numbers)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield _database_url(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
