"""Wake the sender of every process when deliveries become due: PostgreSQL LISTEN/NOTIFY.

`hookline serve` wakes its own sender on emit, but a `hookline worker` would only find
new work at its next sweep (`sweep_interval`). So the services that make deliveries due
call `deliveries_due()` inside their transaction: PostgreSQL delivers a NOTIFY at commit
(never before the rows are visible, never for a rolled-back transaction or savepoint) and
only once per transaction however often it was sent, so a batch of 1,000 emits is one
notification. Each sending process keeps one connection of its own that LISTENs and wakes
its dispatcher, whose `wake()` folds a burst into one sweep. The sweep on the scheduler's
tick stays as the fallback for whatever is missed while that connection is down.

A notification names the process that sent it, which skips its own: `serve` has woken
its sender already (the route that queued the work does, right after the commit), and a
second wake-up a moment later cost a second claim query per emit.

SQLite serves one machine, where the one process that accepts emits is the one that
wakes: nothing to send or listen to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable

import psycopg

from app.storage.db import database, is_sqlite

log = logging.getLogger("hookline.notify")

CHANNEL = "hookline_due"
RECONNECT_MAX_SECONDS = 30
# A server that vanishes without closing the socket (a host gone, a firewall dropping the
# flow) is noticed within about 25 s instead of the kernel's two hours.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
_STARTED = secrets.token_hex(6)  # pids repeat across machines and containers


def this_process() -> str:
    """The payload of this process's notifications; the pid tells forks apart."""
    return f"{os.getpid()}.{_STARTED}"


def deliveries_due() -> None:
    """Tell the other processes' senders, at commit, that deliveries are due now."""
    if not is_sqlite():
        database.execute_sql("SELECT pg_notify(%s, %s)", (CHANNEL, this_process()))


@contextlib.asynccontextmanager
async def waking(database_url: str, wake: Callable[[], None]) -> AsyncIterator[None]:
    """While inside, every NOTIFY on the channel calls `wake()` on this event loop."""
    if is_sqlite():
        yield
        return
    listener = asyncio.create_task(listen(database_url, wake), name="hookline-listen")
    try:
        yield
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def listen(database_url: str, wake: Callable[[], None]) -> None:
    """LISTEN on a dedicated connection until cancelled, connecting again after 1, 2, 4 …
    RECONNECT_MAX_SECONDS seconds when it drops. Each (re)connection wakes once too: emits
    committed while nobody listened were missed."""
    own = this_process()
    failures = 0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, **KEEPALIVES) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                if failures:
                    log.info("listening for due deliveries again")
                failures = 0
                wake()
                async for notification in conn.notifies():
                    if notification.payload != own:
                        wake()
            problem = "the server closed it"
        except psycopg.Error as exc:
            problem = str(exc).strip() or type(exc).__name__
        failures += 1
        delay = min(2 ** (failures - 1), RECONNECT_MAX_SECONDS)
        log.warning("lost the LISTEN connection for due deliveries (%s); reconnecting in %gs, "
                    "sweeping on the tick meanwhile", problem, delay)
        await asyncio.sleep(delay)
