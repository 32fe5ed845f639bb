"""Retention: delete finished deliveries, their attempts and orphaned events once they are old.

SQLite has a single writer, and the sender must keep recording attempts while a purge
runs. So each batch is found with a read outside any write lock, then deleted in its own
short write transaction that checks the conditions again (a resend or a replay may have
touched a row in between), and the lock is free between batches. The deletes are
idempotent: two processes purging at once just find less to do; on PostgreSQL the
scheduled run still takes an advisory lock so that only one of them does the work.

Deliveries are aged by `updated_at`, the time of their last change (for a finished
delivery, its last attempt), so a delivery resent yesterday is not purged today even if
it was created long ago. Pending and delivering rows are never touched. Expired test
endpoints of the request inspector (app/services/inspector.py) go too, with what they
received (ON DELETE CASCADE).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Callable
from datetime import datetime, timedelta

import peewee
from apscheduler.triggers.cron import CronTrigger

from app.config import Settings
from app.rules.crontab import crontab_trigger
from app.storage.db import RETENTION_LOCK, is_sqlite, once_across_processes, write_transaction
from app.storage.models import CANCELLED, FAILED, SUCCEEDED, Attempt, Delivery, Event, InspectorEndpoint, Recovery


@dataclass(frozen=True)
class PurgeReport:
    deliveries: int = 0
    attempts: int = 0
    events: int = 0
    recoveries: int = 0
    test_endpoints: int = 0
    batches: int = 0  # write transactions that deleted something
    seconds: float = 0.0

    def summary(self) -> str:
        endpoints = f" (and {self.test_endpoints} expired test endpoints)" if self.test_endpoints else ""
        return (f"purged {self.deliveries} deliveries, {self.attempts} attempts, {self.events} events and "
                f"{self.recoveries} recoveries{endpoints} in {self.batches} batches ({self.seconds:.1f}s)")


def retention_trigger(settings: Settings) -> CronTrigger:
    return crontab_trigger(settings.retention_cron)


def purge(now: datetime, settings: Settings) -> PurgeReport:
    """Delete what the retention settings no longer keep, `retention_batch_size` rows per
    transaction. Succeeded deliveries go after `retention_succeeded`; failed and cancelled
    ones (they did not arrive, so someone may still look into them) after
    `retention_failed`."""
    began = time.monotonic()
    size = settings.retention_batch_size
    succeeded_before = now - timedelta(seconds=settings.retention_succeeded)
    failed_before = now - timedelta(seconds=settings.retention_failed)
    expired = (
        ((Delivery.status == SUCCEEDED) & (Delivery.updated_at < succeeded_before))
        | (Delivery.status.in_([FAILED, CANCELLED]) & (Delivery.updated_at < failed_before))
    )
    deliveries, attempts, delivery_batches = _in_batches(Delivery, expired, size, _delete_deliveries)

    # An idempotency key must keep replaying its event for idempotency_ttl, whatever the retention.
    event_before = min(succeeded_before, now - timedelta(seconds=settings.idempotency_ttl))
    orphan_event = (Event.created_at < event_before) & ~peewee.fn.EXISTS(
        Delivery.select(Delivery.id).where(Delivery.event == Event.id)
    )
    events, _, event_batches = _in_batches(Event, orphan_event, size, partial(_delete_rows, Event))

    finished_recovery = (Recovery.created_at < succeeded_before) & ~peewee.fn.EXISTS(
        Delivery.select(Delivery.id).where(Delivery.recovery == Recovery.id)
    )
    recoveries, _, recovery_batches = _in_batches(Recovery, finished_recovery, size, partial(_delete_rows, Recovery))

    endpoints, _, endpoint_batches = _in_batches(InspectorEndpoint, InspectorEndpoint.expires_at <= now, size,
                                                 partial(_delete_rows, InspectorEndpoint))
    return PurgeReport(deliveries, attempts, events, recoveries, endpoints,
                       delivery_batches + event_batches + recovery_batches + endpoint_batches, time.monotonic() - began)


def scheduled_purge(now: datetime, settings: Settings) -> PurgeReport | None:
    """The scheduled purge, which every sending process schedules: on PostgreSQL one of
    them purges and the others skip (None) instead of repeating its reads and deletes."""
    with once_across_processes(RETENTION_LOCK, settings.direct_database_url) as ours:
        return purge(now, settings) if ours else None


def _in_batches(model, condition, size: int, delete: Callable[[list], tuple[int, int]]) -> tuple[int, int, int]:
    """Delete rows of `model` meeting `condition`, `size` at a time, until a read finds less
    than a full batch; returns rows and attempts deleted, and the transactions that did."""
    rows = attempts = batches = 0
    while True:
        candidates = [row_id for (row_id,) in model.select(model.id).where(condition).limit(size).tuples()]
        if not candidates:
            break
        with write_transaction():
            still = model.select(model.id).where(model.id.in_(candidates) & condition)
            if not is_sqlite():
                still = still.for_update()  # SQLite's write transaction already excludes other writers
            ids = [row_id for (row_id,) in still.tuples()]
            if ids:
                deleted_rows, deleted_attempts = delete(ids)
                rows, attempts, batches = rows + deleted_rows, attempts + deleted_attempts, batches + 1
        if len(candidates) < size:
            break
    return rows, attempts, batches


def _delete_deliveries(ids: list[str]) -> tuple[int, int]:
    attempts = Attempt.delete().where(Attempt.delivery.in_(ids)).execute()
    return Delivery.delete().where(Delivery.id.in_(ids)).execute(), attempts


def _delete_rows(model, ids: list[str]) -> tuple[int, int]:
    return model.delete().where(model.id.in_(ids)).execute(), 0


def next_purge_at(settings: Settings, now: datetime) -> datetime | None:
    return retention_trigger(settings).get_next_fire_time(None, now)
