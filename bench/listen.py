"""What `hookline listen` adds to a delivery: `hookline serve --dev`, the real CLI and the
benchmark receiver, each a process of its own on loopback; events emitted one at a time.

Two figures. Emit to local arrival: from the emit request's start to the receiver's first
sight of the request the CLI forwarded. Overhead of the stream design: from the hub's start
of the push to the attempt's record, minus the local request's own duration (what the CLI
reports): the SSE frame, the CLI's work, the results POST and the record's commit, i.e.
what a WebSocket could at best shave the POST off.

Run: python -m bench --only listen
"""

from __future__ import annotations

import re
import sqlite3
import time
import urllib.request
from datetime import datetime
from pathlib import Path

from bench.common import ADMIN_KEY, AUTH, HOOKLINE, ROOT, HooklineServer, ReceiverProcess, Row, Subprocess, http_json
from bench.common import percentile, wait_until


def run(opts, workdir: Path, receiver: ReceiverProcess) -> list[Row]:
    count = opts.listen_events
    receiver.reset()
    server = HooklineServer(workdir)
    listen = None
    try:
        webhook_id = server.create_webhook(receiver.url("/fast/direct"))
        direct = _emit_one_at_a_time(server, receiver, count, 0)
        _delete(f"{server.base}/api/v1/webhooks/{webhook_id}")
        listen = Subprocess([str(HOOKLINE), "listen", "--forward-to", receiver.url("/fast/local"),
                             "--server", server.base, "--api-key", ADMIN_KEY], workdir / "listen.log", cwd=ROOT)
        if not wait_until(lambda: "Signing secret" in listen.log.read_text(), 30):
            raise RuntimeError(f"hookline listen did not start:\n{listen.tail()}")
        forwarded = _emit_one_at_a_time(server, receiver, count, count)
        overheads = _overheads(workdir / "hookline.db", "/fast/local")
    finally:
        if listen is not None:
            listen.stop()
        server.stop()
    how = f"{count} events each way, one at a time"
    rows = []
    for label, latencies in (("a webhook, POSTed by the sender", direct), ("a listen session, via the CLI", forwarded)):
        note = f"{len(latencies)}/{count} arrived; {how}"
        rows += [Row("listen", f"emit to arrival, {label}: p50", percentile(latencies, 0.5), "ms", note=note),
                 Row("listen", f"emit to arrival, {label}: p99", percentile(latencies, 0.99), "ms")]
    rows += [Row("listen", "push + report + record, minus the local request: p50", percentile(overheads, 0.5), "ms",
                 note="what the results POST of the SSE design costs at most"),
             Row("listen", "push + report + record, minus the local request: p99", percentile(overheads, 0.99), "ms")]
    return rows


def _emit_one_at_a_time(server: HooklineServer, receiver: ReceiverProcess, count: int, arrived_before: int):
    """Milliseconds from each emit's start to its first arrival at the receiver."""
    started = {}
    for number in range(count):
        at = time.monotonic()
        started[http_json(f"{server.base}/api/v1/events", {"type": "order.created", "data": {"n": number}},
                          AUTH)["id"]] = at
        while receiver.stats()["unique"] <= arrived_before + number and time.monotonic() - at < 10:
            time.sleep(0.002)
    arrived = {event_id: at for event_id, _, at in receiver.arrivals()}
    return [(arrived[event_id] - at) * 1000 for event_id, at in started.items() if event_id in arrived]


def _delete(url: str) -> None:
    request = urllib.request.Request(url, method="DELETE", headers=AUTH)
    urllib.request.urlopen(request, timeout=10).close()


def _overheads(database: Path, url: str) -> list[float]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT a.started_at, a.duration_ms, d.updated_at FROM attempt a JOIN delivery d ON d.id = a.delivery_id "
            "JOIN webhook w ON w.id = d.webhook_id WHERE w.url LIKE ?", (f"%{url}",)
        ).fetchall()
    return [(_parsed(recorded) - _parsed(started)).total_seconds() * 1000 - duration_ms
            for started, duration_ms, recorded in rows]


def _parsed(stamp: str) -> datetime:
    return datetime.fromisoformat(re.sub(r"\+00:00$", "", stamp))

