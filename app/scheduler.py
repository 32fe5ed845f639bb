"""APScheduler setup. Jobs only call services or the dispatcher.

Each process keeps its own in-memory job store: APScheduler 3 job stores must never be
shared between processes, and the delivery leases in the database already coordinate
several processes sweeping the same queue. Every process that sends also schedules the
retention purge; on PostgreSQL an advisory lock lets one of them run it and the others
skip (on SQLite, one machine, two runs at once only find less to do). The owners' mail
job runs in every sending process too; its notices are claimed under leases.
"""

from __future__ import annotations

import logging
from datetime import timezone

import anyio.to_thread
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.config import Settings
from app.delivery.dispatcher import Dispatcher
from app.services.notifications import send_due_mail
from app.services.retention import retention_trigger, scheduled_purge

log = logging.getLogger("hookline.retention")
mail_log = logging.getLogger("hookline.mail")
MAIL_INTERVAL_SECONDS = 15  # how often due owner mail is looked for


def build_scheduler(dispatcher: Dispatcher, settings: Settings) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=timezone.utc)

    async def tick() -> None:
        """Start a sweep in the dispatcher's own task, which its shutdown drains: the
        scheduler cancels the jobs it is running when it stops, and a sweep cancelled
        mid-claim was logged as a job error with a traceback on every such stop."""
        dispatcher.wake()

    async def renew() -> None:
        dispatcher.renew()  # in the dispatcher's own task too, for the same reason

    scheduler.add_job(
        tick,
        "interval",
        seconds=settings.sweep_interval,
        id="sweep-due-deliveries",
        coalesce=True,
        misfire_grace_time=None,
    )
    scheduler.add_job(
        renew,
        "interval",
        seconds=settings.lease_seconds / 3,
        id="renew-leases",
        coalesce=True,
        misfire_grace_time=None,
    )
    scheduler.add_job(
        run_purge,
        retention_trigger(settings),
        args=[dispatcher, settings],
        id="purge-old-deliveries",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,  # a process busy or starting at 03:17 still purges a bit later
    )
    if settings.smtp_url:
        scheduler.add_job(
            run_mail,
            "interval",
            seconds=MAIL_INTERVAL_SECONDS,
            args=[dispatcher, settings],
            id="send-owner-mail",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    return scheduler


async def run_mail(dispatcher: Dispatcher, settings: Settings) -> None:
    """In a worker thread, away from the sends: an SMTP server that hangs holds this job
    alone (the next run waits, max_instances=1), never a delivery."""
    try:
        report = await anyio.to_thread.run_sync(send_due_mail, dispatcher.clock(), settings)
    except Exception:
        mail_log.exception("the owners' mail job failed; the next run retries")
        return
    dispatcher.metrics.mail_sent(report.sent, report.failed)


async def run_purge(dispatcher: Dispatcher, settings: Settings) -> None:
    """In a thread: the purge is blocking database work, and the loop must keep sending."""
    try:
        report = await anyio.to_thread.run_sync(scheduled_purge, dispatcher.clock(), settings)
    except Exception:
        log.exception("retention purge failed; the next run retries")
        return
    if report is None:
        log.info("retention: another process is purging; this one skipped the run")
        return
    log.info("retention: %s", report.summary())
