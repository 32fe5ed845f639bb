"""The sender: what a process runs to deliver, wired in one place for `serve` and `worker`.

A sending process needs the outbound client, the dispatcher, the scheduler that ticks it,
and LISTEN/NOTIFY so emits by other processes wake it at once. `serve`'s lifespan and
`hookline worker` both run exactly this, so the order of start and stop lives here once:
work left from the last run goes out at start (not at the first tick), and on stop the
scheduler stops ticking before the dispatcher drains its sends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx

from app.config import Settings
from app.delivery.dispatcher import Dispatcher
from app.delivery.metrics import Metrics
from app.delivery.outbound import DeliveryClient, build_client
from app.delivery.tracing import Tracing
from app.rules.clock import Clock
from app.scheduler import build_scheduler
from app.services.webhook_health import observe_health
from app.storage.listen_notify import waking
from app.storage.writer import GroupWriter


def build_dispatcher(
    settings: Settings, client: DeliveryClient, clock: Clock, metrics: Metrics, writer: GroupWriter,
    tracing: Tracing | None = None,
) -> Dispatcher:
    """The one place a process constructs its dispatcher."""
    return Dispatcher(settings, client, clock, metrics=metrics, writer=writer, observe_health=observe_health,
                      tracing=tracing)


@contextlib.asynccontextmanager
async def running_sender(
    settings: Settings,
    clock: Clock,
    metrics: Metrics,
    writer: GroupWriter,
    transport: httpx.AsyncBaseTransport | None = None,
    tracing: Tracing | None = None,
) -> AsyncIterator[Dispatcher]:
    """Sends while the block runs; the caller owns the group-commit writer, which an
    API-only process (`serve --no-sender`) needs too, and the span exporter (`tracing`)."""
    async with build_client(settings, transport) as client:
        dispatcher = build_dispatcher(settings, client, clock, metrics, writer, tracing)
        scheduler = build_scheduler(dispatcher, settings)
        scheduler.start()
        dispatcher.wake()  # work left from the last run goes out now, not at the first tick
        try:
            # Emits by other processes; LISTEN needs a session of its own, past any pooler.
            async with waking(settings.direct_database_url, dispatcher.wake, settings.database_url,
                              metrics.wakeup_probe_missed):
                yield dispatcher
        finally:
            # A tick handed to its task just before the stop would be cancelled by shutdown
            # and logged as a job error with a traceback; paused, nothing new starts, and one
            # turn of the loop lets such a tick finish (it only wakes the dispatcher).
            scheduler.pause()
            await asyncio.sleep(0)
            scheduler.shutdown(wait=False)
            await dispatcher.shutdown(timeout=settings.request_timeout)
