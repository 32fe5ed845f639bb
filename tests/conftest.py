"""Shared fixtures: a real receiver on 127.0.0.1, a SQLite file per test, a movable clock.
What is not a fixture lives in tests/helpers.py."""

from __future__ import annotations

import pytest

from app.config import EventTypeSeed, Settings
from app.storage.db import database
from app.services.setup import prepare_database
from tests.helpers import (
    ADMIN_KEY, ADMIN_PASSWORD, ADMIN_USER, ENCRYPTION_KEY, NO_JITTER, Dashboard, FakeClock, Receiver, hookline_env,
    key_for, serving, sign_in,
)


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/hookline.db",
        admin_key=ADMIN_KEY,
        encryption_keys=(ENCRYPTION_KEY,),
        allow_http=True,
        allow_private_networks=("127.0.0.0/8",),
        request_timeout=2,
        lease_seconds=30,
        event_types=(EventTypeSeed("order.created"), EventTypeSeed("order.paid"), EventTypeSeed("user.signed_up")),
    )


@pytest.fixture
def db(settings, clock):
    """The schema, the default tenant, the catalog and the admin key, in a fresh SQLite file."""
    prepare_database(settings, clock)
    yield database
    database.close()


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Engine:
    """The sender driven by hand: each `run()` sweeps what is due at the clock's time and
    waits for the sends to finish, so retry timing needs no sleeping."""

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher

    async def run(self) -> int:
        started = await self.dispatcher.sweep()
        await self.dispatcher.drain(timeout=10)
        return started


@pytest.fixture
async def engine(db, settings, clock):
    from app.delivery.dispatcher import Dispatcher
    from app.delivery.outbound import build_client

    async with build_client(settings) as client:
        yield Engine(Dispatcher(settings, client, clock, random=NO_JITTER))


@pytest.fixture
def api(settings, clock):
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
