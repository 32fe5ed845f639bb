"""Hookline behind PgBouncer in transaction mode (scripts/pgbouncer.sh, in front of the test
server): `serve` and a `worker` on the pooled URL deliver everything, and with
`database_direct_url` the worker's LISTEN reaches PostgreSQL itself, so emits wake it with
no sweep to fall back on. Without it the worker warns that wake-ups do not arrive, in its
log and in /metrics. The retention lock is held on the direct connection too."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import psycopg
import pytest

from app.services.retention import scheduled_purge
from app.services.webhooks import create_webhook
from app.storage.db import RETENTION_LOCK
from app.storage.listen_notify import CHANNEL
from app.storage.models import Delivery, Tenant
from tests.helpers import ADMIN, ADMIN_KEY, eventually, free_port, old_log, start_hookline, stop_hookline

PGBOUNCER_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pgbouncer.sh"
CANNOT_INSTALL = 3
EVENTS = 20
SILENT = "wake-ups between processes do not arrive"
TOKEN = "pooler-test-metrics-token"


@pytest.fixture(scope="module")
def pgbouncer_port(postgres_server) -> int:
    """PgBouncer in transaction mode in front of the session's server, for every database
    on it. Not under pytest's tmp_path: as root it runs as `postgres`."""
    folder = tempfile.mkdtemp(prefix="hookline-pgbouncer-")
    started = subprocess.run([PGBOUNCER_SCRIPT, "start", folder, postgres_server, "transaction"],
                             capture_output=True, text=True, timeout=600)
    if started.returncode == CANNOT_INSTALL:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"the pooler tests need PgBouncer: {started.stderr.strip()}")
    assert started.returncode == 0, started.stderr
    try:
        yield int(re.search(r":(\d+)/", started.stdout).group(1))
    finally:
        subprocess.run([PGBOUNCER_SCRIPT, "stop", folder], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pooled_url(pg_url, pgbouncer_port) -> str:
    """The test's database through PgBouncer."""
    return re.sub(r"@127\.0\.0\.1:\d+/", f"@127.0.0.1:{pgbouncer_port}/", pg_url)


def pooled_env(env: dict, pooled_url: str, **settings: str) -> dict:
    # No sweep to fall back on within the test: only a wake-up sends an emitted event.
    return {**env, "HOOKLINE_DATABASE_URL": pooled_url, "HOOKLINE_ADMIN_KEY": ADMIN_KEY,
            "HOOKLINE_SWEEP_INTERVAL": "1h", **{f"HOOKLINE_{k.upper()}": v for k, v in settings.items()}}


def serve_api_only(env: dict, port: int, cwd) -> subprocess.Popen:
    """`hookline serve --no-sender`, once it answers: the worker sends, and only when woken."""
    process = start_hookline(["serve", "--dev", "--no-sender", "--port", str(port)], env, cwd)

    def healthy():
        assert process.poll() is None, process.log.read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        except httpx.ConnectError:
            return False

    eventually(healthy, 30, "hookline serve to answer")
    return process


def emit_over(base: str, count: int) -> None:
    with httpx.Client(base_url=base, headers=ADMIN, timeout=30) as client:
        for n in range(count):
            response = client.post("/api/v1/events", json={"type": "order.created", "data": {"n": n}})
            assert response.status_code == 202, response.text


def listening_directly(pg_url: str) -> bool:
    """A backend of the server itself waits on the channel (its last statement was the LISTEN)."""
    with psycopg.connect(pg_url, autocommit=True) as observer:
        return observer.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                "AND query = %s", (f"LISTEN {CHANNEL}",)).fetchone()[0] == 1


def probes_missed(metrics_port: int) -> float | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    except httpx.ConnectError:
        return None
    found = re.search(r"^hookline_wakeup_probes_missed_total (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def test_serve_and_a_worker_through_pgbouncer_are_woken_through_the_direct_url(
        env, tmp_path, settings, clock, db, receiver, pooled_url, pg_url):
    create_webhook(Tenant.get(Tenant.slug == "default"), {"url": receiver.url()}, settings, clock())
    behind = pooled_env(env, pooled_url, database_direct_url=pg_url, metrics_token=TOKEN)
    metrics_port, port = free_port(), free_port()
    worker = start_hookline(["worker", "--dev", "--metrics-port", str(metrics_port)], behind, tmp_path)
    server = serve_api_only(behind, port, tmp_path)
    try:
        eventually(lambda: probes_missed(metrics_port) == 0, 30, "the worker's metrics")
        # Listening before the first emit, so its wake-up on connecting cannot be what sends them.
        eventually(lambda: listening_directly(pg_url), 30, "the worker to LISTEN on the direct connection")
        emit_over(f"http://127.0.0.1:{port}", EVENTS)
        receiver.wait_for(EVENTS, timeout=30)
        eventually(lambda: Delivery.select().where(Delivery.status == "succeeded").count() == EVENTS, 30,
                   "every delivery recorded")
        assert probes_missed(metrics_port) == 0
    finally:
        try:
            stop_hookline(server)
        finally:
            worker_log = stop_hookline(worker)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == EVENTS
    assert SILENT not in worker_log


def test_a_worker_listening_through_pgbouncer_warns_that_wake_ups_do_not_arrive(
        env, tmp_path, db, pooled_url):
    metrics_port = free_port()
    worker_env = pooled_env(env, pooled_url, metrics_token=TOKEN)
    worker = start_hookline(["worker", "--dev", "--metrics-port", str(metrics_port)], worker_env, tmp_path)
    try:
        eventually(lambda: SILENT in worker.log.read_text(), 30, "the warning in the worker's log")
        assert probes_missed(metrics_port) == 1
    finally:
        log = stop_hookline(worker)
    assert log.count(SILENT) == 1
    assert "database_direct_url" in log


def held_retention_locks(connection) -> int:
    """RETENTION_LOCK on this database (a bigint key is split into classid and objid)."""
    return connection.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) AND classid = %s AND objid = %s",
        (RETENTION_LOCK >> 32, RETENTION_LOCK & 0xFFFFFFFF)).fetchone()[0]


def test_the_retention_lock_is_held_on_the_direct_connection(db, settings, clock, pg_url):
    """The purge's lock is taken on database_direct_url, never through database_url (here a
    port nobody listens on; the purge's own queries use the test's open database): a holder
    there keeps the run out, and the run's own lock is gone the moment it ends."""
    old_log(settings, clock, 3)
    behind = settings.replace(database_url=f"postgresql://hookline@127.0.0.1:{free_port()}/hookline",
                              database_direct_url=pg_url)
    with psycopg.connect(pg_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (RETENTION_LOCK,))
        assert held_retention_locks(other) == 1
        assert scheduled_purge(clock(), behind) is None, "another process holds the lock: this run skips"
        other.execute("SELECT pg_advisory_unlock(%s)", (RETENTION_LOCK,))
        report = scheduled_purge(clock(), behind)
        assert report is not None and report.deliveries == 3
        assert held_retention_locks(other) == 0
