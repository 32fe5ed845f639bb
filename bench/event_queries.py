"""GET /api/v1/events on a big log: how long one page takes, and the plan that answers it.

`query_events` events (1,000,000 at full size) of three tenants and ten types over 30 days
are written to a fresh SQLite file (raw executemany, 10,000 rows per transaction) and, with
--pg / --pg-url, to a fresh PostgreSQL database (one INSERT … SELECT over generate_series).
Then each query shape runs through the service the API calls (app/services/event_log.py)
SAMPLES times after a warm-up: the median and the slowest are reported, and the query plan
of each shape is printed (EXPLAIN QUERY PLAN, EXPLAIN ANALYZE). The target: a type +
time-range page in at most 50 ms on either database. A `where` page is evaluated in Python
over at most SCAN_CAP rows (app/services/event_log.py says why): its figure is that bound's cost.
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.common import ADMIN_KEY, ENCRYPTION_KEY, Row
from bench.throughput import postgres

BATCH_ROWS = 10_000
SAMPLES = 30
DAYS = 30
TENANTS = ("default", "acme", "globex")  # 60 %, 30 %, 10 % of the events
TYPES = ("order.created", "order.paid", "order.refunded", "order.item.added", "user.signed_up", "user.deleted",
         "invoice.sent", "invoice.paid", "shipment.sent", "shipment.delivered")
TARGET_MS = 50


def _tenant_of(n: int) -> int:
    return 0 if n % 10 < 6 else 1 if n % 10 < 9 else 2


def _open(url: str, now: datetime):
    from app.config import Settings
    from app.services.setup import prepare_database

    prepare_database(Settings(database_url=url, admin_key=ADMIN_KEY, encryption_keys=(ENCRYPTION_KEY,)), lambda: now)


def _tenant_ids() -> list[int]:
    from app.services.tenants import get_or_create_tenant

    now = datetime.now(timezone.utc)
    return [get_or_create_tenant(slug, now).id for slug in TENANTS]


def fill_sqlite(path: Path, rows: int, now: datetime) -> None:
    from app.rules.ids import ulid
    from app.storage.db import database

    _open(f"sqlite:///{path}", now)
    tenant_ids = _tenant_ids()
    database.close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=wal")
    connection.execute("PRAGMA synchronous=normal")
    step = DAYS * 86400 / rows
    for start in range(0, rows, BATCH_ROWS):
        batch = []
        for n in range(start, min(start + BATCH_ROWS, rows)):
            at = now - timedelta(seconds=(rows - n) * step)
            batch.append((f"evt_{ulid(int(at.timestamp() * 1000))}", tenant_ids[_tenant_of(n)], TYPES[n % len(TYPES)],
                          f'{{"order_id":{n},"total":{n % 500}}}', at.replace(tzinfo=None).isoformat(" ")))
        with connection:
            connection.executemany("INSERT INTO event (id, tenant_id, type, data, created_at) VALUES (?, ?, ?, ?, ?)",
                                   batch)
    connection.execute("ANALYZE")
    connection.close()


def fill_postgres(url: str, rows: int, now: datetime) -> None:
    from app.storage.db import database

    _open(url, now)
    tenant_ids = _tenant_ids()
    types = ",".join(f"'{t}'" for t in TYPES)
    step = DAYS * 86400 / rows
    with database.atomic():
        database.execute_sql(f"""
            INSERT INTO event (id, tenant_id, type, data, created_at)
            SELECT 'evt_' || upper(lpad(to_hex(n), 26, '0')),
                   (ARRAY[{tenant_ids[0]}, {tenant_ids[1]}, {tenant_ids[2]}])[
                       CASE WHEN mod(n, 10) < 6 THEN 1 WHEN mod(n, 10) < 9 THEN 2 ELSE 3 END],
                   (ARRAY[{types}])[mod(n, {len(TYPES)}) + 1],
                   '{{"order_id":' || n || ',"total":' || mod(n, 500) || '}}',
                   %s - ({rows} - n) * interval '{step} seconds'
            FROM generate_series(0, {rows - 1}) AS n""", (now.replace(tzinfo=None),))
    database.execute_sql("ANALYZE event")
    database.close()


def shapes(now: datetime) -> list[tuple[str, dict]]:
    """(label, parameters of GET /api/v1/events) for tenant `default`."""
    day = {"since": (now - timedelta(days=3)).isoformat(), "until": (now - timedelta(days=2)).isoformat()}
    return [
        ("type + 1-day range, first page of 50", {"type": "order.paid", **day}),
        ("type + 1-day range, 6th page of 50", {"type": "order.paid", **day, "pages": 5}),
        ("type + 30-day range, first page of 100", {"type": "order.paid", "limit": 100,
                                                    "since": (now - timedelta(days=30)).isoformat()}),
        ("family order.* + 1-day range, first page", {"type": "order.*", **day}),
        ("family order.* + 30-day range, first page", {"type": "order.*",
                                                       "since": (now - timedelta(days=30)).isoformat()}),
        ("every type, newest page", {}),
        ("type + where data.total eq 11, 1-day range", {"type": "order.paid", **day, "where": ["data.total eq 11"]}),
        ("type + where matching nothing (scan cap)", {"type": "order.paid", **day, "where": ["data.total eq 7"]}),
    ]


def _query(params: dict):
    from app.services.event_log import event_query

    fields = {k: v for k, v in params.items() if k != "pages"}
    return event_query(**fields)


def measure(label: str, params: dict, backend: str) -> tuple[Row, list[str]]:
    from app.services.event_log import SCAN_CAP, in_log_order, list_events
    from app.storage.db import database
    from app.storage.models import Tenant

    tenant = Tenant.get(Tenant.slug == "default")
    query = _query(params)
    for _ in range(params.get("pages", 0)):  # the cursor of a deeper page
        query = _query({**params, "before": list_events(tenant, query).next_cursor})

    def once() -> tuple[float, int]:
        began = time.perf_counter()
        page = list_events(tenant, query)
        return (time.perf_counter() - began) * 1000, len(page.items)

    once()
    timings = [once() for _ in range(SAMPLES)]
    median, slowest, found = statistics.median(t for t, _ in timings), max(t for t, _ in timings), timings[0][1]
    sql, values = in_log_order(tenant.id, query, query.before).limit(query.limit + 1).sql()
    explain = "EXPLAIN QUERY PLAN " if backend == "SQLite" else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
    plan = [str(line[-1]) for line in database.execute_sql(explain + sql, values)]
    target = f"≤ {TARGET_MS} ms" if "where" not in params else f"reads ≤ {SCAN_CAP:,} rows"
    row = Row("event_queries", f"{backend}: {label}", median, "ms", target=target,
              note=f"slowest {slowest:.1f} ms of {SAMPLES}, {found} events")
    return row, plan


def run_backend(backend: str, url: str, rows: int, fill) -> list[Row]:
    from app.storage.db import database, open_database

    now = datetime.now(timezone.utc).replace(microsecond=0)
    began = time.monotonic()
    out = []
    try:
        fill(url, rows, now)
        print(f"   {backend}: {rows:,} events written in {time.monotonic() - began:.0f}s", file=sys.stderr, flush=True)
        open_database(url if backend != "SQLite" else f"sqlite:///{url}")
        for label, params in shapes(now):
            row, plan = measure(label, params, backend)
            out.append(row)
            print(f"\n## {row.name}: median {row.value:.2f} ms ({row.note})")
            for line in plan:
                print("    " + line)
    finally:
        database.close()
    return out


def run(opts, workdir: Path, receiver) -> list[Row]:
    rows = run_backend("SQLite", workdir / "events.db", opts.query_events, fill_sqlite)
    try:
        with postgres(opts, workdir) as url:
            if url is None:
                return rows + [Row("event_queries", "PostgreSQL", None, "ms",
                                   note="not run: pass --pg-url URL, or --pg with scripts/postgres-server.sh")]
            rows += run_backend("PostgreSQL", url, opts.query_events, fill_postgres)
    except Exception as exc:  # the SQLite figures stand on their own
        rows.append(Row("event_queries", "PostgreSQL", None, "ms", note=f"failed: {type(exc).__name__}: {exc}"[:300]))
    return rows
