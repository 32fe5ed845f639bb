"""Memory with many deliveries in flight: peak RSS of `hookline serve` while the receiver
holds `in_flight` requests open (/hold/ answers only when released).

max_concurrency is raised to `in_flight` and the request timeout above the hold time, so
every delivery is a live connection at once. Peak RSS during the ordinary throughput run
is reported by the throughput part.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.common import HooklineServer, ReceiverProcess, RssSampler, Row, emit_closed_loop, wait_until


def run(opts, workdir: Path, receiver: ReceiverProcess) -> list[Row]:
    hold_timeout = opts.part_timeout / 2
    timeout = hold_timeout + 60
    settings = {"max_concurrency": opts.in_flight, "max_in_flight_per_webhook": opts.in_flight,
                "request_timeout": timeout, "lease_seconds": timeout + 60}
    server = HooklineServer(workdir, settings=settings)
    try:
        for n in range(opts.webhooks):
            server.create_webhook(receiver.url(f"/hold/{n}"))
        receiver.reset()
        idle = server.memory()["VmRSS"]
        events = -(-opts.in_flight // opts.webhooks)
        with RssSampler(server.pid) as rss:
            asyncio.run(emit_closed_loop(server.base, events, opts.emitters))
            held = wait_until(lambda: receiver.stats()["held"] >= opts.in_flight, hold_timeout, 0.2)
            reached = receiver.stats()["held"]
            during = server.memory()
        receiver.release()
        wait_until(lambda: receiver.stats()["held"] == 0, 30, 0.2)
    finally:
        server.stop()
    note = f"{reached}/{opts.in_flight} requests held open at once" + ("" if held else " (timed out)")
    return [
        Row("memory", "RSS of serve when idle", idle, "MB"),
        Row("memory", f"RSS of serve with {reached:,} in flight", during["VmRSS"], "MB", note=note),
        Row("memory", "RSS per request in flight", (during["VmRSS"] - idle) * 1024 / max(reached, 1), "KB",
            note="(with - idle) / held: comparable between --in-flight sizes"),
        Row("memory", "peak RSS of serve while filling up", rss.peak_mb, "MB", target="≤ 200 MB",
            note=f"largest VmRSS sampled every 50 ms; VmHWM since start {during['VmHWM']:.0f} MB (start-up)"),
    ]
