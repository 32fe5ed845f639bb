"""Backlog scale: does a table full of old, finished deliveries slow the sender down?

The same SQLite database is built twice: once empty, once with `backlog_rows` finished
deliveries (succeeded, one attempt each, spread over the last 60 days). The large one is
built once, with raw executemany in 10,000-row transactions, into bench/.cache/ and
copied for every run. On each: the sweep query (`Delivery.due(now, per_webhook, limit=100)`, the
fair claim's query, with 1,000 due rows present) timed over many runs, EXPLAIN QUERY PLAN of the claim statement, then
the usual throughput run. Backlog/empty should stay within 10%.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.common import ADMIN_KEY, CACHE, ENCRYPTION_KEY, ROOT, ROUNDS, HooklineServer, ReceiverProcess, Row, mean
from bench.throughput import deliver

OLD_WEBHOOKS = 5
BATCH_ROWS = 10_000
SWEEP_REPEATS = 300
DUE_EVENTS = 200  # x OLD_WEBHOOKS due rows while the sweep query is timed


def _settings(path: Path):
    from app.config import load_settings

    environ = {"HOOKLINE_DATABASE_URL": f"sqlite:///{path}", "HOOKLINE_ENCRYPTION_KEYS": ENCRYPTION_KEY,
               "HOOKLINE_ADMIN_KEY": ADMIN_KEY}
    return load_settings(ROOT / "config.toml", environ).for_dev()


def _open(path: Path):
    from app.rules.clock import system_clock
    from app.services.setup import prepare_database

    settings = _settings(path)
    prepare_database(settings, system_clock)
    return settings


def build(path: Path, rows: int) -> Path:
    """The schema, OLD_WEBHOOKS webhooks, and `rows` finished deliveries with their events
    and attempts. Written to a temporary name and renamed, so a cut-short build is not reused."""
    from app.rules.ids import ulid
    from app.services.webhooks import create_webhook
    from app.storage.db import database
    from app.storage.models import Tenant

    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    settings = _open(partial)
    now = datetime.now(timezone.utc)
    tenant = Tenant.get(Tenant.slug == Tenant.DEFAULT)
    hooks = [create_webhook(tenant, {"url": f"http://127.0.0.1:9/old/{n}"}, settings, now).webhook.id
             for n in range(OLD_WEBHOOKS)]
    database.close()

    connection = sqlite3.connect(partial)
    connection.execute("PRAGMA journal_mode=wal")
    connection.execute("PRAGMA synchronous=normal")
    data = '{"n":0,"pad":"' + "x" * 900 + '"}'
    for start in range(0, rows, BATCH_ROWS):
        events, deliveries, attempts = [], [], []
        for n in range(start, min(start + BATCH_ROWS, rows), OLD_WEBHOOKS):
            at = now - timedelta(days=60) + timedelta(seconds=n * 5_000_000 / max(rows, 1))
            stamp = at.replace(tzinfo=None).isoformat(" ")
            event_id = f"evt_{ulid(int(at.timestamp() * 1000))}"
            events.append((event_id, tenant.id, "order.created", data, stamp))
            for hook in hooks:
                delivery_id = f"dlv_{ulid(int(at.timestamp() * 1000))}"
                deliveries.append((delivery_id, event_id, hook, "succeeded", 1, 0, 204, stamp, stamp))
                attempts.append((delivery_id, 1, stamp, 3, "{}", 204, ""))
        with connection:
            connection.executemany(
                "INSERT INTO event (id, tenant_id, type, data, created_at) VALUES (?, ?, ?, ?, ?)", events)
            connection.executemany(
                "INSERT INTO delivery (id, event_id, webhook_id, status, attempts, attempts_before_recovery,"
                " last_status_code, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", deliveries)
            connection.executemany(
                "INSERT INTO attempt (delivery_id, number, started_at, duration_ms, request_headers, response_status,"
                " response_body) VALUES (?, ?, ?, ?, ?, ?, ?)", attempts)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    partial.rename(path)
    return path


def cached(rows: int) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"backlog-{rows}.db"
    if not path.exists():
        print(f"building {path.name} ({rows:,} finished deliveries, once) ...", file=sys.stderr, flush=True)
        began = time.monotonic()
        build(path, rows)
        print(f"  built in {time.monotonic() - began:.0f}s", file=sys.stderr, flush=True)
    return path


def sweep_query(path: Path) -> tuple[float, list[str]]:
    """Mean ms of the sweep query with due rows present, and the plans of it and the claim.
    The due rows are removed and the old webhooks switched off afterwards, so the
    throughput run that follows sends only to the receiver."""
    from peewee import EnclosedNodeList

    from app.rules.clock import system_clock
    from app.services.events import emit_event
    from app.storage.db import database
    from app.storage.models import PENDING, DELIVERING, Delivery, Event, Tenant, Webhook

    settings = _open(path)
    now = system_clock()
    tenant = Tenant.get(Tenant.slug == Tenant.DEFAULT)
    for n in range(DUE_EVENTS):
        emit_event(tenant, "order.created", {"n": n}, settings, now)
    due = Delivery.due(now + timedelta(seconds=1), settings.max_in_flight_per_webhook, limit=settings.sweep_batch_size)
    due_sql, due_params = database.get_sql_context().sql(due).query()
    began = time.perf_counter()
    for _ in range(SWEEP_REPEATS):
        found = database.execute_sql(due_sql, due_params).fetchall()
    mean_ms = (time.perf_counter() - began) / SWEEP_REPEATS * 1000
    assert found, "expected due rows"  # at most a quota per webhook, so fewer than the batch size
    claim = Delivery.update(status=DELIVERING, lease_expires_at=now, updated_at=now).where(
        Delivery.id.in_(EnclosedNodeList([due]))).returning(Delivery.id)
    plans = []
    for label, query in (("sweep (due) query", due), ("claim statement", claim)):
        sql, params = database.get_sql_context().sql(query).query()
        plans.append(f"{label}: {sql}")
        plans += [f"  {row[-1]}" for row in database.execute_sql("EXPLAIN QUERY PLAN " + sql, params)]
    pending_events = Delivery.select(Delivery.event).where(Delivery.status == PENDING)
    Event.delete().where(Event.id.in_(pending_events)).execute()
    Webhook.update(enabled=False).execute()
    database.close()
    return mean_ms, plans


def run(opts, workdir: Path, receiver: ReceiverProcess) -> list[Row]:
    sweeps, plans, rates = {}, {}, {}
    workdir.mkdir(parents=True, exist_ok=True)
    sides = (("empty", 0), (f"{opts.backlog_rows:,} old rows", opts.backlog_rows))
    for round_ in range(ROUNDS):
        for label, rows in sides:
            run_dir = workdir / f"{'empty' if rows == 0 else 'backlog'}-{round_}"
            run_dir.mkdir()
            path = run_dir / "hookline.db"
            if rows:
                shutil.copyfile(cached(rows), path)
            else:
                build(path, 0)
            # every round: it also switches the old webhooks off (with them on, a round
            # also sent every event to 5 refusing endpoints and ran at half speed)
            sweep_ms, plans[label] = sweep_query(path)
            sweeps.setdefault(label, []).append(sweep_ms)
            server = HooklineServer(run_dir, f"sqlite:///{path}")
            try:
                urls = [receiver.url(f"/fast/{n}") for n in range(opts.webhooks)]
                delivered = deliver(server, receiver, opts.backlog_events, urls, opts.emitters, opts.batch,
                                    opts.part_timeout / 3 / ROUNDS)
            finally:
                server.stop()
                shutil.rmtree(run_dir, ignore_errors=True)  # a copy of the backlog is 1 GB
            rates.setdefault(label, []).append(delivered.rate)
    print("\nBacklog: query plans (SQLite EXPLAIN QUERY PLAN)")
    for label, lines in plans.items():
        print(f"[{label}]")
        print("\n".join(lines))
    note = f"{opts.backlog_events} events x {opts.webhooks} webhooks"
    rows = []
    for label, _ in sides:
        runs = ", ".join(f"{rate:,.0f}" for rate in rates[label])
        rows += [
            Row("backlog", f"{label}: sweep query", mean(sweeps[label]), "ms",
                note=f"mean of {SWEEP_REPEATS} in each of {ROUNDS} runs, limit 100"),
            Row("backlog", f"{label}: deliveries/s", mean(rates[label]), "dlv/s", "rate",
                note=f"mean of {ROUNDS} alternating runs ({runs}); {note}"),
        ]
    (empty, full) = (label for label, _ in sides)
    rows += [
        Row("backlog", "sweep query, backlog / empty", mean(sweeps[full]) / mean(sweeps[empty]), "x", target="≤ 1.1"),
        Row("backlog", "throughput, backlog / empty",
            mean(rates[full]) / mean(rates[empty]) if mean(rates[empty]) else None, "x", target="≥ 0.9"),
    ]
    return rows
