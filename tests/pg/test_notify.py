"""LISTEN/NOTIFY wakes every sending process on emit: an event accepted on one connection
is sent by a process whose next sweep is a minute away, and a listener whose connection
the server drops connects again.

A process skips its own notifications (serve's routes wake its sender directly), so the
tests that emit from this process and listen in it too send theirs as another process
would (`as_another_process`), once the listener has started."""

from __future__ import annotations

import contextlib
import dataclasses
import logging

import anyio.to_thread
import psycopg
import pytest

from app.services.deliveries import resend_delivery
from app.services.events import EmitItem, emit_events
from app.storage import listen_notify
from app.storage.listen_notify import CHANNEL, waking
from app.storage.models import SUCCEEDED, Delivery, Tenant
from tests.helpers import emit, eventually, eventually_async, make_webhook, serving, start_hookline, stop_hookline

# Far beyond every wait below: a delivery that arrives was woken, not swept.
NO_SWEEP = "60s"


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, sweep_interval=60)


def listeners(pg_url: str) -> set[int]:
    """Backends waiting on the channel (their last statement was the LISTEN)."""
    with psycopg.connect(pg_url, autocommit=True) as observer:
        rows = observer.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = %s", (f"LISTEN {CHANNEL}",)
        ).fetchall()
    return {pid for (pid,) in rows}


@pytest.fixture
def as_another_process(monkeypatch):
    """Call once the listener has started: notifications sent from then on are not its own."""
    return lambda: monkeypatch.setattr(listen_notify, "this_process", lambda: "another process")


def probe(pg_url: str) -> None:
    """A notification from another connection; it arrives after every one sent before it."""
    with psycopg.connect(pg_url, autocommit=True) as other:
        other.execute("SELECT pg_notify(%s, 'probe')", (CHANNEL,))


def test_a_worker_sends_an_emit_at_once_not_at_its_next_sweep(env, tmp_path, settings, clock, db, pg_url, receiver):
    make_webhook(settings, clock, receiver.url())
    worker = start_hookline(["worker", "--dev"], {**env, "HOOKLINE_SWEEP_INTERVAL": NO_SWEEP}, tmp_path)
    try:
        eventually(lambda: listeners(pg_url), 30, "the worker to listen")
        emitted = emit(settings, clock)  # this process's connection, not the worker's
        (request,) = receiver.wait_for(1, timeout=10)
        assert request.headers["webhook-id"] == emitted.event_id
    finally:
        stop_hookline(worker)


def test_serve_is_woken_by_emits_from_other_processes(settings, clock, db, pg_url, receiver, as_another_process):
    make_webhook(settings, clock, receiver.url())
    with serving(settings, clock, run_sender=True):
        eventually(lambda: listeners(pg_url), 10, "serve to listen")
        as_another_process()
        emitted = emit(settings, clock)
        (request,) = receiver.wait_for(1, timeout=10)
    assert request.headers["webhook-id"] == emitted.event_id


@contextlib.asynccontextmanager
async def listening_dispatcher(make_engine, settings):
    """A dispatcher with no scheduler at all: only a NOTIFY makes it sweep."""
    dispatcher = (await make_engine()).dispatcher
    async with waking(settings.database_url, dispatcher.wake):
        yield dispatcher
    await dispatcher.drain(timeout=10)


async def in_thread(function, *args):
    """On another thread, so on another connection than the one the loop's thread holds."""
    return await anyio.to_thread.run_sync(function, *args)


async def wait_for_listener(pg_url: str, other_than: set[int] = frozenset()) -> int:
    found = await eventually_async(lambda: listeners(pg_url) - other_than, 10, "a listener")
    (pid,) = found
    return pid


@pytest.mark.anyio
async def test_the_listener_connects_again_after_the_server_drops_it(
    settings, clock, db, pg_url, receiver, caplog, as_another_process, make_engine
):
    make_webhook(settings, clock, receiver.url())
    async with listening_dispatcher(make_engine, settings):
        first = await wait_for_listener(pg_url)
        as_another_process()
        await in_thread(emit, settings, clock)
        await eventually_async(lambda: len(receiver.requests) == 1, 10, "the first event")

        with caplog.at_level(logging.INFO, logger="hookline.notify"):
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (first,))
            await wait_for_listener(pg_url, other_than={first})
            await in_thread(emit, settings, clock)
            await eventually_async(lambda: len(receiver.requests) == 2, 10, "the event after the reconnection")
    assert "lost the LISTEN connection for due deliveries" in caplog.text
    assert "listening for due deliveries again" in caplog.text
    assert Delivery.select().where(Delivery.status == SUCCEEDED).count() == 2


@pytest.mark.anyio
async def test_one_notification_per_transaction_and_none_from_this_process(
    settings, clock, db, pg_url, receiver, as_another_process
):
    make_webhook(settings, clock, receiver.url())
    woken = []
    async with waking(settings.database_url, lambda: woken.append(1)):
        await wait_for_listener(pg_url)
        await eventually_async(lambda: woken, 10, "the wake-up on connecting")
        # Both are sent before the listener can read either (this task holds the loop), so
        # it reads them together: had its own woken it, the count would be 3 at once.
        emit(settings, clock)  # its own: the route that emitted wakes its sender
        probe(pg_url)
        await eventually_async(lambda: len(woken) >= 2, 10, "the probe's notification")
        assert len(woken) == 2, "this process's own notification woke nothing"

        as_another_process()
        tenant = Tenant.get(Tenant.slug == "default")
        items = [EmitItem(tenant, "order.created", {"n": n}) for n in range(200)]
        await in_thread(emit_events, items, settings, clock())
        await eventually_async(lambda: len(woken) >= 3, 10, "the batch's notification")
        await in_thread(resend_delivery, Delivery.select().first().id, None, clock())
        await eventually_async(lambda: len(woken) >= 4, 10, "the resend's notification")
        await in_thread(probe, pg_url)
        await eventually_async(lambda: len(woken) >= 5, 10, "the probe's notification")
    assert len(woken) == 5, "one notification per committed transaction"
