"""Emit: how fast `POST /api/v1/events` accepts events, and how soon they go out.

Closed loop: `emit_concurrency` connections send as fast as answers come back, giving the
maximum accepted events/s and its p50/p99. Open loop: a fixed rate for a fixed time, each
request started on schedule and its latency counted from that intended start, so a stall
is charged to every request it delayed (no coordinated omission). Emit-to-first-attempt
comes from the open-loop run: receiver arrival minus intended send time, per delivery.
Both runs fan out to the usual 5 webhooks, so the sender competes with emits as in use.
At 1,000 events/s that is 5,000 deliveries/s, more than one process sends on 2 cores, so
the queue grows for the whole run; a second open loop at --steady-rate (default 400/s,
2,000 deliveries/s) shows the latencies when the sender keeps up.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bench.common import (
    HooklineServer,
    ReceiverProcess,
    Row,
    arrival_latencies_ms,
    emit_closed_loop,
    emit_open_loop,
    percentile,
)


def run(opts, workdir: Path, receiver: ReceiverProcess) -> list[Row]:
    server = HooklineServer(workdir)
    try:
        for n in range(opts.webhooks):
            server.create_webhook(receiver.url(f"/fast/{n}"))
        receiver.reset()
        started = time.monotonic()
        closed = asyncio.run(emit_closed_loop(server.base, opts.emit_events, opts.emit_concurrency))
        closed_seconds = time.monotonic() - started
        # let the closed loop's deliveries drain so they do not slow the open-loop run
        receiver.wait_for(opts.emit_events * opts.webhooks, opts.part_timeout / 3)
        receiver.reset()
        opened, refused = asyncio.run(emit_open_loop(server.base, opts.rate, opts.duration))
        expected = len(opened) * opts.webhooks
        stats = receiver.wait_for(expected, 60)
        first_attempt = arrival_latencies_ms(opened, receiver.arrivals())
        receiver.reset()
        within, _ = asyncio.run(emit_open_loop(server.base, opts.steady_rate, opts.duration))
        steady_stats = receiver.wait_for(len(within) * opts.webhooks, 60)
        steady_first = arrival_latencies_ms(within, receiver.arrivals())
    finally:
        server.stop()
    steady = f"open loop at {opts.steady_rate:g}/s"
    steady_note = (f"{opts.steady_rate * opts.webhooks:,.0f} deliveries/s, within what one process sends; "
                   f"{steady_stats['unique']}/{len(within) * opts.webhooks} arrived")
    closed_ms = [e.latency_ms for e in closed]
    open_ms = [e.latency_ms for e in opened]
    closed_note = f"{opts.emit_events} events, {opts.emit_concurrency} connections"
    open_note = f"{opts.rate:g}/s for {opts.duration:g}s; {len(opened)} accepted, {len(refused)} refused"
    if refused:
        open_note += f" (first: {refused[0][:80]})"
    return [
        Row("emit", "closed loop: events/s", len(closed) / closed_seconds, "events/s", "rate", "≥ 3,000/s", closed_note),
        Row("emit", "closed loop: latency p50", percentile(closed_ms, 0.5), "ms", "p50"),
        Row("emit", "closed loop: latency p99", percentile(closed_ms, 0.99), "ms", "p99", "≤ 15 ms"),
        Row("emit", "open loop: latency p50", percentile(open_ms, 0.5), "ms", "p50", note=open_note),
        Row("emit", "open loop: latency p95", percentile(open_ms, 0.95), "ms"),
        Row("emit", "open loop: latency p99", percentile(open_ms, 0.99), "ms", "p99", "≤ 10 ms"),
        Row("emit", "emit-to-first-attempt p50", percentile(first_attempt, 0.5), "ms", "p50",
            note=f"{stats['unique']}/{expected} arrived"),
        Row("emit", "emit-to-first-attempt p99", percentile(first_attempt, 0.99), "ms", "p99", "≤ 100 ms"),
        Row("emit", f"{steady}: latency p99", percentile([e.latency_ms for e in within], 0.99), "ms", "p99"),
        Row("emit", f"{steady}: emit-to-first-attempt p50", percentile(steady_first, 0.5), "ms", "p50",
            note=steady_note),
        Row("emit", f"{steady}: emit-to-first-attempt p99", percentile(steady_first, 0.99), "ms", "p99"),
    ]
