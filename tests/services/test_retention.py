"""Retention: the purge against a real SQLite file, a real sender and the real command.

Deliveries are made old by moving the injected clock back while they are emitted and
sent, then forward again to purge.
"""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
from datetime import datetime, timedelta, timezone

import anyio.to_thread
import pytest
from bs4 import BeautifulSoup

from app.config import ConfigError, load_settings
from app.delivery.queue import claim_due
from app.rules.crontab import weekday_names
from app.scheduler import build_scheduler, run_purge
from app.services.events import emit_event
from app.services.retention import purge
from app.storage.models import CANCELLED, DELIVERING, FAILED, PENDING, SUCCEEDED, Attempt, Delivery, Event, Recovery, Tenant
from tests.helpers import HOOKLINE, emit, make_webhook, old_log

pytestmark = pytest.mark.anyio

DAY = 86400


def days_ago(clock, days: float) -> datetime:
    return clock() - timedelta(days=days)


@pytest.mark.parametrize(
    "reply, age_days, status, kept",
    [
        pytest.param(200, 31, SUCCEEDED, False, id="succeeded-31d-gone-with-attempt"),
        pytest.param(200, 29, SUCCEEDED, True, id="succeeded-29d-kept"),
        pytest.param(400, 31, FAILED, True, id="failed-31d-kept"),
        pytest.param(400, 91, FAILED, False, id="failed-91d-gone"),
        pytest.param(500, 400, PENDING, True, id="pending-retry-400d-never"),
    ],
)
async def test_purge_removes_only_what_it_should(db, settings, clock, receiver, engine, reply, age_days, status, kept):
    receiver.plan("/hook", reply)
    now = clock()
    clock.now = days_ago(clock, age_days)
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    await engine.run()
    (delivery,) = Delivery.select()
    assert delivery.status == status
    clock.now = now

    report = purge(now, settings)

    assert Delivery.select().exists() is kept
    assert Attempt.select().count() == (1 if kept else 0)
    assert Event.select().exists() is kept, "an event goes with its last delivery"
    gone = 0 if kept else 1
    assert (report.deliveries, report.attempts, report.events) == (gone, gone, gone)


async def test_rows_being_sent_are_never_purged_and_cancelled_ones_age_like_failed(db, settings, clock):
    now = clock()
    clock.now = days_ago(clock, 400)
    make_webhook(settings, clock, "http://127.0.0.1:9/hook")
    emit(settings, clock)
    (claimed,) = claim_due(clock(), 10, settings.lease_seconds)  # its sender "died": the lease ran out long ago
    emit(settings, clock)
    Delivery.update(status=CANCELLED).where(Delivery.status == PENDING).execute()
    clock.now = now

    report = purge(now, settings)

    assert [(d.id, d.status) for d in Delivery.select()] == [(claimed.id, DELIVERING)]
    assert (report.deliveries, report.events) == (1, 1)


async def test_a_resent_delivery_is_aged_from_its_last_attempt(db, settings, clock, receiver, engine):
    now = clock()
    clock.now = days_ago(clock, 60)
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    await engine.run()
    clock.advance(59 * DAY)  # a day ago: a resend succeeds again
    Delivery.update(status=PENDING, next_attempt_at=clock()).execute()
    await engine.run()
    clock.now = now

    assert purge(now, settings).deliveries == 0
    assert Delivery.get().status == SUCCEEDED and Attempt.select().count() == 2


async def test_old_event_stays_while_one_of_its_deliveries_is_kept(db, settings, clock, receiver, engine):
    receiver.plan("/ok", 200)
    receiver.plan("/bad", 400)
    now = clock()
    clock.now = days_ago(clock, 31)
    make_webhook(settings, clock, receiver.url("/ok"))
    bad = make_webhook(settings, clock, receiver.url("/bad"))
    emitted = emit(settings, clock)
    await engine.run()
    clock.now = now

    report = purge(now, settings)

    assert [d.webhook_id for d in Delivery.select()] == [bad.id]
    assert [e.id for e in Event.select()] == [emitted.event_id] and report.events == 0


def emit_without_webhooks(settings, clock, age_days: float, idempotency_key: str | None = None) -> str:
    now = clock.now
    clock.now = days_ago(clock, age_days)
    tenant = Tenant.get(Tenant.slug == "default")
    event_id = emit_event(tenant, "order.created", {}, settings, clock(), idempotency_key=idempotency_key).event_id
    clock.now = now
    return event_id


async def test_events_without_deliveries_follow_retention_succeeded(db, settings, clock):
    emit_without_webhooks(settings, clock, 31)
    young = emit_without_webhooks(settings, clock, 29)
    assert purge(clock(), settings).events == 1
    assert [e.id for e in Event.select()] == [young]


async def test_an_event_within_idempotency_ttl_is_never_purged(db, settings, clock):
    settings = settings.replace(idempotency_ttl=40 * DAY)
    kept = emit_without_webhooks(settings, clock, 31, idempotency_key="order-1001")

    assert purge(clock(), settings).events == 0
    tenant = Tenant.get(Tenant.slug == "default")
    again = emit_event(tenant, "order.created", {}, settings, clock(), idempotency_key="order-1001")
    assert (again.event_id, again.replayed) == (kept, True)


async def test_recoveries_go_when_their_deliveries_are_gone(db, settings, clock, receiver, engine):
    webhook = make_webhook(settings, clock, receiver.url())
    old = clock() - timedelta(days=31)
    Recovery.create(webhook=webhook.id, since=old, total=3, created_at=old)  # its deliveries are gone
    running = Recovery.create(webhook=webhook.id, since=old, total=1, created_at=old)
    young = Recovery.create(webhook=webhook.id, since=clock(), total=0, created_at=clock())
    emit(settings, clock)
    Delivery.update(recovery=running.id).execute()

    assert purge(clock(), settings).recoveries == 1
    assert sorted(r.id for r in Recovery.select()) == sorted([running.id, young.id])


async def test_purges_in_batches(db, settings, clock, receiver, engine):
    now = clock()
    clock.now = days_ago(clock, 31)
    make_webhook(settings, clock, receiver.url())
    for _ in range(5):
        emit(settings, clock)
    await engine.run()
    clock.now = now

    report = purge(now, settings.replace(retention_batch_size=2))

    assert (report.deliveries, report.attempts, report.events) == (5, 5, 5)
    assert report.batches == 6, "2+2+1 deliveries, then 2+2+1 events, each in its own transaction"
    assert not Delivery.select().exists() and not Event.select().exists()


async def test_sender_keeps_recording_while_a_purge_runs(db, settings, clock, receiver, engine):
    old_log(settings, clock, 4000)
    make_webhook(settings, clock, receiver.url())
    purging = asyncio.create_task(anyio.to_thread.run_sync(purge, clock(), settings.replace(retention_batch_size=20)))
    rounds = overlapped = 0
    while not purging.done() and rounds < 200:
        emit(settings, clock)
        assert await engine.run() == 1
        rounds += 1
        overlapped += not purging.done()
    report = await purging

    assert (report.deliveries, report.attempts, report.events) == (4000, 4000, 4000)
    assert overlapped >= 1, "the sender recorded attempts while the purge was still running"
    fresh = list(Delivery.select())
    assert len(fresh) == rounds and {d.status for d in fresh} == {SUCCEEDED}
    assert Attempt.select().count() == rounds, "every attempt made during the purge was recorded"


async def test_two_purges_at_once_share_the_work(db, settings, clock):
    old_log(settings, clock, 2000)
    small_batches = settings.replace(retention_batch_size=20)
    reports = await asyncio.gather(*(anyio.to_thread.run_sync(purge, clock(), small_batches) for _ in range(2)))
    assert sum(r.deliveries for r in reports) == 2000 and sum(r.attempts for r in reports) == 2000
    assert sum(r.events for r in reports) == 2000
    assert not Delivery.select().exists() and not Attempt.select().exists()


def test_purge_command_prints_what_it_deleted(env, tmp_path, db, settings, clock):  # noqa: F811
    old_log(settings, clock, 3)
    result = subprocess.run([HOOKLINE, "purge"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Purged 3 deliveries, 3 attempts, 3 events and 0 recoveries in 2 batches."
    assert not Delivery.select().exists()


def test_two_purge_processes_at_once_are_harmless(env, tmp_path, db, settings, clock):  # noqa: F811
    old_log(settings, clock, 3000)
    env = {**env, "HOOKLINE_RETENTION_BATCH_SIZE": "5"}
    processes = [subprocess.Popen([HOOKLINE, "purge"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    counts = [int(re.match(r"Purged (\d+) deliveries", out).group(1)) for out, _ in outputs]
    assert sum(counts) == 3000
    assert not Delivery.select().exists() and not Event.select().exists()


async def test_scheduled_purge_logs_a_summary(db, settings, clock, caplog, engine):
    old_log(settings, clock, 2)
    dispatcher = engine.dispatcher
    scheduler = build_scheduler(dispatcher, settings.replace(retention_cron="5 4 * * 1"))
    trigger = scheduler.get_job("purge-old-deliveries").trigger
    with caplog.at_level(logging.INFO, logger="hookline.retention"):
        await run_purge(dispatcher, settings)
    monday = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)
    assert trigger.get_next_fire_time(None, monday) == datetime(2026, 11, 30, 4, 5, tzinfo=timezone.utc)
    assert "retention: purged 2 deliveries, 2 attempts, 2 events and 0 recoveries in 2 batches" in caplog.text


@pytest.mark.parametrize(
    "field, names",
    [("*", "*"), ("1", "mon"), ("0", "sun"), ("7", "sun"), ("1-5", "mon,tue,wed,thu,fri"), ("*/2", "sun,tue,thu,sat"),
     ("5-7", "fri,sat,sun"), ("0,7", "sun"), ("mon-fri", "mon-fri"), ("sat,0", "sat,sun")],
)
def test_crontab_weekday_numbers_count_from_sunday(field, names):
    assert weekday_names(field) == names


@pytest.mark.parametrize("cron", ["61 3 * * *", "daily", "* * * * * *", "0 3 * * 8", "0 3 * * 5-1"])
def test_a_bad_retention_cron_stops_start_up_naming_the_key(cron):
    with pytest.raises(ConfigError, match=r"^retention_cron \(HOOKLINE_RETENTION_CRON\): .* is not a crontab schedule"):
        load_settings(environ={"HOOKLINE_CONFIG": "/dev/null", "HOOKLINE_RETENTION_CRON": cron})


@pytest.mark.parametrize("tab", ["deliveries", "stats"])
def test_dashboard_says_what_is_kept(dashboard, settings, clock, tab):
    webhook = make_webhook(settings, clock, "http://127.0.0.1:9/hook")
    page = BeautifulSoup(dashboard.get(f"/webhooks/{webhook.id}/{tab}").text, "html.parser")
    note = page.select_one(".retention-note").text
    assert note == "Succeeded deliveries are kept 30 days, failed ones 90 days; next purge 03:17 UTC."
