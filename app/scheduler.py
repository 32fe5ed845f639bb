"""APScheduler setup. Jobs only call services or the dispatcher.

Each process keeps its own in-memory job store: APScheduler 3 job stores must never be
shared between processes, and the delivery leases in the database already coordinate
several processes sweeping the same queue.
"""

from __future__ import annotations

from datetime import timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.config import Settings
from app.dispatch import Dispatcher


def build_scheduler(dispatcher: Dispatcher, settings: Settings) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=timezone.utc)

    async def tick() -> None:
        """Start a sweep in the dispatcher's own task, which its shutdown drains: the
        scheduler cancels the jobs it is running when it stops, and a sweep cancelled
        mid-claim was logged as a job error with a traceback on every such stop."""
        dispatcher.wake()

    scheduler.add_job(
        tick,
        "interval",
        seconds=settings.sweep_interval,
        id="sweep-due-deliveries",
        coalesce=True,
        misfire_grace_time=None,
    )
    return scheduler
