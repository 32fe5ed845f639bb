"""Scale-out: `hookline serve` and three `hookline worker` processes on one PostgreSQL
database share the queue. `FOR UPDATE SKIP LOCKED` hands each claim rows no other process
holds, so every delivery is sent once; a worker killed with -9 leaves leases that the
others take over when they expire, and nothing is lost."""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import re
import signal

import httpx

from app.services.events import emit_event
from app.services.webhooks import create_webhook
from app.storage.db import write_transaction
from app.storage.models import DELIVERING, SUCCEEDED, Attempt, Delivery, Tenant
from tests.helpers import ADMIN, ADMIN_KEY, Reply, eventually, free_port, serve_hookline, start_hookline, stop_hookline

EVENTS = 2500  # x 2 webhooks: the 5,000 deliveries of the issue
KILLED_RUN_EVENTS = 500  # enough backlog to keep every process busy up to the kill
WORKERS = 3
PATHS = ("/a", "/b")  # two webhooks, so every event fans out to two deliveries
SENT = re.compile(r"delivery (dlv_\w+) to wh_\w+: attempt")


def subscribe(settings, clock, receiver) -> None:
    tenant = Tenant.get(Tenant.slug == "default")
    for path in PATHS:
        create_webhook(tenant, {"url": receiver.url(path)}, settings, clock())


@contextlib.contextmanager
def cluster(env: dict, tmp_path, **overrides: str):
    """`serve` and WORKERS workers on the test's database; yields the API's base URL and
    the worker processes, and stops whatever is still running."""
    # At debug every attempt is logged: which process sent what is read from the logs.
    env = {**env, "HOOKLINE_ADMIN_KEY": ADMIN_KEY, "HOOKLINE_LOG_LEVEL": "debug",
           **{f"HOOKLINE_{k.upper()}": v for k, v in overrides.items()}}
    port = free_port()
    workers = [start_hookline(["worker", "--dev"], env, tmp_path) for _ in range(WORKERS)]
    server = serve_hookline(env, port, tmp_path)
    try:
        yield f"http://127.0.0.1:{port}", workers
    finally:
        running = [p for p in (server, *workers) if p.poll() is None]
        with concurrent.futures.ThreadPoolExecutor(len(running)) as pool:  # each waits for its sends in flight
            list(pool.map(stop_hookline, running))


def emit_all(base: str, count: int) -> list[str]:
    """`count` events through the API from 8 client threads; their ids in order."""
    def emit(n: int) -> str:
        response = client.post("/api/v1/events", json={"type": "order.created", "data": {"n": n}})
        assert response.status_code == 202, response.text
        return response.json()["id"]

    with httpx.Client(base_url=base, headers=ADMIN, timeout=30) as client, concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(emit, range(count)))


def arrivals(receiver) -> collections.Counter:
    return collections.Counter((r.path, r.headers["webhook-id"]) for r in receiver.requests)


def everything_sent(event_ids: list[str]):
    def check():
        return Delivery.select().where(Delivery.status != SUCCEEDED).count() == 0 and Delivery.select().count() == len(event_ids) * len(PATHS)
    return check


def test_serve_and_three_workers_send_every_delivery_exactly_once(env, tmp_path, settings, clock, db, receiver):
    subscribe(settings, clock, receiver)
    with cluster(env, tmp_path, sweep_batch_size="20") as (base, workers):
        event_ids = emit_all(base, EVENTS)
        expected = {(path, event_id) for event_id in event_ids for path in PATHS}
        eventually(lambda: set(arrivals(receiver)) >= expected, 60, "every delivery at the receiver")
        eventually(everything_sent(event_ids), 30, "every delivery recorded as succeeded")
    logs = [w.log.read_text() for w in workers]

    counts = arrivals(receiver)
    assert set(counts) == expected
    assert max(counts.values()) == 1, "no delivery was sent twice"
    assert Delivery.select().where(Delivery.status == DELIVERING).count() == 0
    assert Attempt.select().where(Attempt.response_status == 200).count() == Attempt.select().count() == len(expected)
    # Each delivery was sent by one process, and the workers shared the work.
    sent_by_worker = [set(SENT.findall(log)) for log in logs]
    assert sum(len(sent) for sent in sent_by_worker) == len(set().union(*sent_by_worker))
    assert sum(1 for sent in sent_by_worker if sent) >= 2, "at least two workers sent deliveries"


def test_a_killed_workers_leases_are_taken_over_and_nothing_is_lost(env, tmp_path, settings, clock, db, receiver):
    max_concurrency = 20
    # Slow enough that a backlog builds and every process has max_concurrency sends in flight.
    receiver.plan("/a", Reply(200, delay=0.2))
    receiver.plan("/b", Reply(200, delay=0.2))
    overrides = {"max_concurrency": str(max_concurrency), "request_timeout": "2s", "lease_seconds": "3s"}
    subscribe(settings, clock, receiver)
    # Queued before anyone sends, so the backlog keeps every process busy up to the kill.
    tenant = Tenant.get(Tenant.slug == "default")
    with write_transaction():
        event_ids = [emit_event(tenant, "order.created", {"n": n}, settings, clock()).event_id for n in range(KILLED_RUN_EVENTS)]
    with cluster(env, tmp_path, **overrides) as (base, workers):
        receiver.wait_for(len(event_ids) // 3, timeout=60)
        doomed = workers[0]
        eventually(lambda: SENT.search(doomed.log.read_text()), 30, "the doomed worker to be sending")
        doomed.send_signal(signal.SIGKILL)  # mid-stream: its claimed rows stay `delivering`
        doomed.wait(timeout=10)
        expected = {(path, event_id) for event_id in event_ids for path in PATHS}
        eventually(lambda: set(arrivals(receiver)) >= expected, 60, "every delivery at the receiver")
        eventually(everything_sent(event_ids), 30, "every delivery recorded as succeeded")

    counts = arrivals(receiver)
    assert set(counts) == expected
    resent = sum(n - 1 for n in counts.values())
    # What the killed worker had in flight reached the receiver, was never recorded, and
    # went out again from another process once its lease ran out.
    assert 0 < resent <= max_concurrency
    assert Delivery.select().where(Delivery.status == DELIVERING).count() == 0
