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

A pooler in transaction mode (PgBouncer) hands each transaction to whichever server
connection is free, so a LISTEN made through it is left on a server connection nobody
reads: no wake-up ever arrives, and every delivery waits for the next sweep. The listener
therefore connects to `database_direct_url` when one is set, and checks at each connection
that wake-ups arrive: it sends a probe the way an emit does (through `database_url`) and
expects it back on its own connection. A probe that does not come back within
PROBE_SECONDS is logged (once per process) and counted for /metrics.

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
# A NOTIFY reaches the listeners at commit, in milliseconds; ten seconds without the probe
# is not a slow server but a notification that will never come.
PROBE_SECONDS = 10
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
async def waking(
    listen_url: str, wake: Callable[[], None], notify_url: str | None = None,
    on_silent: Callable[[], None] = lambda: None,
) -> AsyncIterator[None]:
    """While inside, every NOTIFY on the channel calls `wake()` on this event loop.
    `listen_url`: a connection of its own (database_direct_url behind a pooler);
    `notify_url`: the way emits notify (database_url); `on_silent`: called for each probe
    that never came back."""
    if is_sqlite():
        yield
        return
    probes = _Probes(notify_url or listen_url, on_silent)
    listener = asyncio.create_task(listen(listen_url, wake, probes), name="hookline-listen")
    try:
        yield
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await probes.stop()


async def listen(database_url: str, wake: Callable[[], None], probes: _Probes | None = None) -> None:
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
                probe = probes.send() if probes else None
                async for notification in conn.notifies():
                    if notification.payload == probe:
                        probes.arrived()
                    elif notification.payload != own:
                        wake()
            problem = "the server closed it"
        except psycopg.Error as exc:
            problem = str(exc).strip() or type(exc).__name__
        failures += 1
        delay = min(2 ** (failures - 1), RECONNECT_MAX_SECONDS)
        log.warning("lost the LISTEN connection for due deliveries (%s); reconnecting in %gs, "
                    "sweeping on the tick meanwhile", problem, delay)
        await asyncio.sleep(delay)


class _Probes:
    """One probe per LISTEN connection: a NOTIFY sent through `notify_url` that the listener
    must see within PROBE_SECONDS."""

    def __init__(self, notify_url: str, on_silent: Callable[[], None]):
        self._notify_url = notify_url
        self._on_silent = on_silent
        self._sent = 0
        self._arrived = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._warned = False

    def send(self) -> str:
        """Start the probe of a new connection; returns the payload to look for."""
        if self._task is not None:
            self._task.cancel()
        self._sent += 1
        self._arrived = asyncio.Event()
        payload = f"{this_process()}.probe{self._sent}"
        self._task = asyncio.create_task(self._check(payload, self._arrived), name="hookline-listen-probe")
        return payload

    def arrived(self) -> None:
        self._arrived.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _check(self, payload: str, arrived: asyncio.Event) -> None:
        try:
            async with await psycopg.AsyncConnection.connect(self._notify_url, autocommit=True, **KEEPALIVES) as conn:
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        except psycopg.Error as exc:  # nothing was sent, so nothing can be missed
            log.info("could not send the probe that checks wake-ups arrive (%s)", str(exc).strip())
            return
        try:
            await asyncio.wait_for(arrived.wait(), PROBE_SECONDS)
        except TimeoutError:
            self._on_silent()
            if not self._warned:
                self._warned = True
                log.warning("wake-ups between processes do not arrive: a NOTIFY sent like an emit's did not reach "
                            "this process's LISTEN connection within %ds. Is the database behind a pooler in "
                            "transaction mode (PgBouncer)? Set database_direct_url to a connection that reaches "
                            "PostgreSQL itself (docs/deploy.md); until then deliveries wait for the sweep "
                            "(sweep_interval)", PROBE_SECONDS)
