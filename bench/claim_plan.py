"""The fair claim query on a big table: its SQLite plan and how long a sweep's claim takes.

Run by hand: `python -m bench.claim_plan [rows]`. Two shapes of 100k rows by default:
`history` (almost all rows finished long ago, a few due) and `backlog` (one webhook with
almost every row due, the noisy neighbour). Each claim is rolled back so every sample
sees the same table.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

from app.config import Settings
from app.delivery.queue import claim_due
from app.rules.ids import new_id
from app.services.setup import prepare_database
from app.storage.db import database
from app.storage.models import PENDING, SUCCEEDED, Delivery, Event, Tenant, Webhook

WEBHOOKS = 50
ORDERED = 5
SAMPLES = 20


def fill(rows: int, backlog: bool, now: datetime) -> None:
    tenant = Tenant.get(Tenant.slug == "default")
    webhooks = [
        Webhook.create(tenant=tenant, name=f"w{i}", url=f"https://example.com/{i}", secret="s", ordered=i < ORDERED,
                       created_at=now, updated_at=now).id
        for i in range(WEBHOOKS)
    ]
    due_each = 20
    with database.atomic():
        for start in range(0, rows, 5000):
            events, deliveries = [], []
            for n in range(start, min(start + 5000, rows)):
                event_id = new_id("evt")
                events.append({"id": event_id, "tenant": tenant.id, "type": "order.created", "data": "{}",
                               "created_at": now - timedelta(seconds=rows - n)})
                if backlog:
                    webhook, due = (webhooks[-1], True) if n >= WEBHOOKS * due_each else (webhooks[n % WEBHOOKS], True)
                else:
                    webhook, due = webhooks[n % WEBHOOKS], n >= rows - WEBHOOKS * due_each
                created = now - timedelta(seconds=rows - n)
                deliveries.append({"id": new_id("dlv"), "event": event_id, "webhook": webhook,
                                   "status": PENDING if due else SUCCEEDED, "attempts": 0 if due else 1,
                                   "next_attempt_at": created if due else None, "created_at": created, "updated_at": created})
            Event.insert_many(events).execute()
            Delivery.insert_many(deliveries).execute()
    database.execute_sql("ANALYZE")


class Rollback(Exception):
    pass


def timed_claim(now: datetime, quotas: dict) -> tuple[float, int]:
    began = time.perf_counter()
    try:
        with database.atomic():
            claimed = claim_due(now, 100, 60, per_webhook=5, quotas=quotas)
            raise Rollback
    except Rollback:
        pass
    return time.perf_counter() - began, len(claimed)


def main(rows: int) -> None:
    for shape in ("history", "backlog"):
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(database_url=f"sqlite:///{folder}/plan.db", encryption_keys=("dGVzdHMtb25seS1lbmNyeXB0aW9uLWtleS0zMmJ5dGU=",))
            now = datetime.now(timezone.utc)
            prepare_database(settings, lambda: now)
            fill(rows, shape == "backlog", now)
            due = Delivery.select().where(Delivery.is_due(now)).count()
            held = {Webhook.select().order_by(Webhook.id.desc()).first().id: 0}
            sql, params = database.get_sql_context().sql(Delivery.due(now, 5, held, 100)).query()
            print(f"\n## {shape}: {rows} rows, {due} due, {WEBHOOKS} webhooks ({ORDERED} ordered)")
            for row in database.execute_sql("EXPLAIN QUERY PLAN " + sql, params):
                print("   ", row[-1])
            for quotas, label in (({}, "no quotas"), (held, "busiest webhook held back")):
                timings = sorted(timed_claim(now, quotas) for _ in range(SAMPLES))
                print(f"claim ({label}): median {timings[SAMPLES // 2][0] * 1000:.1f} ms, "
                      f"max {timings[-1][0] * 1000:.1f} ms, {timings[0][1]} rows")
            database.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
