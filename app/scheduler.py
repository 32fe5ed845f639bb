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
    scheduler.add_job(
        dispatcher.sweep,
        "interval",
        seconds=settings.sweep_interval,
        id="sweep-due-deliveries",
        # sweep() returns at once while another sweep runs, so overlapping ticks are harmless
        max_instances=3,
        coalesce=True,
        misfire_grace_time=None,
    )
    return scheduler
