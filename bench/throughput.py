"""Throughput: `hookline serve` on a fresh database, 5 webhooks, N events emitted by a few
concurrent connections; deliveries/s from the first emit to the last 2xx at the receiver,
CPU seconds per delivery of the server process, and its peak RSS while it works.

Events go in through POST /api/v1/events/batch (--batch, default 100 per call), the way a
busy producer sends them, so the figure is the sender's; a second SQLite run emits one
event per request, which the emit part measures on its own.

With --pg-url URL (or scripts/postgres-server.sh in the tree) the same run repeats on
PostgreSQL, in a database created for the run and dropped after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.common import ROOT, HooklineServer, ReceiverProcess, RssSampler, Row, emit_closed_loop, process_cpu


@dataclass
class Delivered:
    expected: int
    delivered: int
    seconds: float  # first emit to last 2xx
    emit_seconds: float
    cpu: float  # server CPU seconds over the run
    peak_rss_mb: float
    emitted: list
    arrivals_stats: dict

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0


def deliver(server: HooklineServer, receiver: ReceiverProcess, events: int, webhook_urls: list[str],
            emitters: int, batch: int, timeout: float, senders: list = (), prefix: str = "fast",
            webhook_fields: dict | None = None) -> Delivered:
    """Create the webhooks (with `webhook_fields`), emit, and wait (bounded) until every
    delivery arrived. CPU is the server's plus that of the extra `hookline worker`
    processes in `senders`."""
    for url in webhook_urls:
        server.create_webhook(url, **(webhook_fields or {}))
    receiver.reset()
    expected = events * sum(1 for url in webhook_urls if f"/{prefix}/" in url)
    cpu = lambda: server.cpu() + sum(process_cpu(sender.pid) for sender in senders)  # noqa: E731
    cpu_before = cpu()
    started = time.monotonic()
    with RssSampler(server.pid) as rss:
        emitted = asyncio.run(emit_closed_loop(server.base, events, emitters, batch))
        emit_seconds = time.monotonic() - started
        stats = receiver.wait_for(expected, timeout, prefix)
    cpu = cpu() - cpu_before
    delivered = stats["unique_by_prefix"].get(prefix, 0)
    return Delivered(expected, delivered, (stats["last"] or started) - started, emit_seconds, cpu, rss.peak_mb,
                     emitted, stats)


def run_one(opts, workdir: Path, receiver: ReceiverProcess, database_url: str | None, label: str,
            workers: int = 0, batch: int | None = None) -> list[Row]:
    batch = opts.batch if batch is None else batch
    server = HooklineServer(workdir, database_url)
    senders = [server.worker(n) for n in range(workers)]
    try:
        urls = [receiver.url(f"/fast/{n}") for n in range(opts.webhooks)]
        result = deliver(server, receiver, opts.events, urls, opts.emitters, batch, opts.part_timeout, senders)
    finally:
        for sender in senders:
            sender.stop()
        server.stop()
    how = f"{opts.events} events x {opts.webhooks} webhooks, {opts.emitters} emitters"
    how += f", batches of {batch}" if batch > 1 else ", one event per request"
    note = f"{result.delivered}/{result.expected} delivered; {how}"
    return [
        Row("throughput", f"{label}: deliveries/s", result.rate, "dlv/s", "rate", "≥ 3,000/s, ≥ 0.25x", note),
        Row("throughput", f"{label}: server CPU per delivery", result.cpu / max(result.delivered, 1) * 1000, "ms", "cpu"),
        Row("throughput", f"{label}: emit rate during the run", opts.events / result.emit_seconds, "events/s"),
        Row("memory", f"{label}: peak RSS of serve during throughput", result.peak_rss_mb, "MB",
            note="largest VmRSS sampled every 50 ms"),
    ]


def run(opts, workdir: Path, receiver: ReceiverProcess) -> list[Row]:
    with_workers = f"serve + {opts.workers} worker{'s' if opts.workers > 1 else ''}"
    rows = run_one(opts, workdir / "sqlite", receiver, None, "SQLite")
    if opts.batch > 1:  # what a client that cannot batch gets
        rows += run_one(opts, workdir / "sqlite-single", receiver, None, "SQLite, one event per request", batch=1)
    if opts.workers:
        rows += run_one(opts, workdir / "sqlite-workers", receiver, None, f"SQLite, {with_workers}", opts.workers)
    postgres_runs = [("PostgreSQL", 0)] + ([(f"PostgreSQL, {with_workers}", opts.workers)] if opts.workers else [])
    for label, workers in postgres_runs:
        why = "not run: pass --pg-url URL, or --pg with scripts/postgres-server.sh"
        try:
            with postgres(opts, workdir) as url:  # a fresh database for each run
                if url:
                    rows += run_one(opts, workdir / f"postgres-{workers}", receiver, url, label, workers)
                    continue
        except Exception as exc:  # the SQLite figures stand on their own
            why = f"failed: {type(exc).__name__}: {exc}"[:300]
        rows.append(Row("throughput", f"{label}: deliveries/s", None, "dlv/s", "rate", note=why))
    return rows


@contextlib.contextmanager
def postgres(opts, workdir: Path):
    """A URL of a fresh database for one run, dropped afterwards; None when there is no server."""
    server_url, started_dir = opts.pg_url, None
    script = ROOT / "scripts" / "postgres-server.sh"
    if not server_url and opts.pg and script.exists():
        # directly under /tmp: as root the server runs as `postgres`, which cannot enter
        # the private work directory
        started_dir = Path(tempfile.mkdtemp(prefix="hookline-bench-pg-"))
        server_url = subprocess.run([str(script), "start", str(started_dir)], check=True, capture_output=True,
                                    text=True, timeout=120).stdout.strip().splitlines()[-1]
    if not server_url:
        yield None
        return
    name = f"hookline_bench_{uuid.uuid4().hex[:8]}"
    _admin_sql(server_url, f"CREATE DATABASE {name}")
    parts = urlsplit(server_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        _admin_sql(server_url, f"DROP DATABASE IF EXISTS {name}")
        if started_dir:
            subprocess.run([str(script), "stop", str(started_dir)], capture_output=True, timeout=60)
            shutil.rmtree(started_dir, ignore_errors=True)


def _admin_sql(url: str, statement: str) -> None:
    try:
        import psycopg2 as driver
    except ImportError:
        import psycopg as driver
    connection = driver.connect(url)
    connection.autocommit = True
    try:
        connection.cursor().execute(statement)
    finally:
        connection.close()
