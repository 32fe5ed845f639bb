"""`make bench`: run the benchmark parts and print one table, every figure also as a ratio
to the bare-aiohttp ceiling measured in the same run.

  make bench                          all parts at full size (~20-30 min on 2 cores)
  make bench ARGS="--only emit"       one part (several: --only emit,noisy)
  make bench ARGS="--quick"           small sizes, a smoke run of every part (~3-5 min)
  make bench ARGS="--json out.json"   also save the rows as JSON

Loopback only. Every part runs under a time limit (--part-timeout) and every wait in it
is bounded; a part that fails or times out is reported in the table and the rest go on.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import backlog, ceilings, contracts, emit, event_queries, listen, memory, noisy, throughput
from bench.common import ReceiverProcess, Row, raise_fd_limit, time_limit
from bench.peer import run as peer

PARTS = {
    "ceilings": ceilings.run, "throughput": throughput.run, "emit": emit.run, "noisy": noisy.run,
    "backlog": backlog.run, "memory": memory.run, "peer": peer.run, "contracts": contracts.run,
    "event_queries": event_queries.run, "listen": listen.run,
}
# full size, --quick size
SIZES = {
    "requests": (20_000, 2_000), "events": (20_000, 500), "emit_events": (10_000, 500), "rate": (1000, 200),
    "steady_rate": (400, 100), "duration": (30, 5), "noisy_events": (100, 5), "backlog_rows": (1_000_000, 20_000),
    "backlog_events": (10_000, 300), "in_flight": (10_000, 1_000), "query_events": (1_000_000, 20_000), "peer_events": (20_000, 200), "listen_events": (200, 20), "part_timeout": (1800, 300),
}


def options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes: proves every part works, measures nothing")
    parser.add_argument("--json", type=Path, help="save the rows (and the machine) to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (databases, server logs)")
    parser.add_argument("--pg-url", help="a PostgreSQL server URL: throughput also runs on a database created there")
    parser.add_argument("--pg", action="store_true", help="start PostgreSQL with scripts/postgres-server.sh")
    parser.add_argument("--webhooks", type=int, default=5, help="webhooks per event (throughput, emit, backlog)")
    parser.add_argument("--emitters", type=int, default=4, help="concurrent emitting connections")
    parser.add_argument("--batch", type=int, default=100,
                        help="throughput: events per POST /api/v1/events/batch (1: one per POST /api/v1/events)")
    parser.add_argument("--workers", type=int, default=1,
                        help="throughput also with serve + this many `hookline worker` processes (0: not)")
    parser.add_argument("--concurrency", type=int, default=50, help="ceiling clients' concurrent requests")
    parser.add_argument("--emit-concurrency", type=int, default=20, help="closed-loop emit connections")
    parser.add_argument("--noisy-timeout", type=float, default=5, help="Hookline request timeout in the noisy run")
    parser.add_argument("--peer-workers", type=int, default=8, help="Celery prefork processes of the peer")
    for name, (full, quick) in SIZES.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(full), help=f"default {full:,} ({quick:,} with --quick)")
    opts = parser.parse_args(argv)
    for name, (full, quick) in SIZES.items():
        if getattr(opts, name) is None:
            setattr(opts, name, quick if opts.quick else full)
    opts.parts = opts.only.split(",") if opts.only else list(PARTS)
    unknown = set(opts.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part {sorted(unknown)[0]!r} (choose from {', '.join(PARTS)})")
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = options(argv)
    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="hookline-bench-"))
    rows: list[Row] = []
    failed = []
    receiver = ReceiverProcess(workdir, hang_seconds=opts.noisy_timeout + 30, hold_seconds=opts.part_timeout / 2 + 30)
    try:
        if "ceilings" not in opts.parts:  # the ratios need it; aiohttp alone takes seconds
            rows += ceilings.run(opts, workdir, receiver, clients=("aiohttp",))
        for part in opts.parts:
            print(f"== {part}", file=sys.stderr, flush=True)
            began = time.monotonic()
            part_dir = workdir / part
            part_dir.mkdir()
            try:
                with time_limit(opts.part_timeout, part):
                    rows += PARTS[part](opts, part_dir, receiver)
            except Exception as exc:  # report it, and go on with the other parts
                traceback.print_exc()
                failed.append(part)
                rows.append(Row(part, "FAILED", None, "", note=f"{type(exc).__name__}: {exc}"[:200]))
            print(f"   {part} took {time.monotonic() - began:.0f}s", file=sys.stderr, flush=True)
    finally:
        receiver.stop()
        if opts.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    rows += derived(rows)
    machine = describe_machine(opts)
    print_table(rows, machine)
    if opts.json:
        opts.json.write_text(json.dumps({"machine": machine, "rows": [r.as_dict() for r in rows]}, indent=2))
    return 1 if failed else 0


def derived(rows: list[Row]) -> list[Row]:
    """Ratios between parts: ours against the peer and against bare default httpx."""
    by_name = {(r.part, r.name): r.value for r in rows}
    ours = by_name.get(("throughput", "SQLite: deliveries/s"))
    extra = []
    for part, name, label, target in (
        ("peer", "peer: deliveries/s", "Hookline SQLite / peer", "≥ 3x"),
        ("ceilings", "bare httpx (default transport): requests/s", "Hookline SQLite / bare httpx ceiling", "≥ 2x"),
    ):
        theirs = by_name.get((part, name))
        if ours and theirs:
            extra.append(Row("summary", label, ours / theirs, "x", target=target))
    return extra


def describe_machine(opts) -> dict:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "command": "python -m bench " + " ".join(sys.argv[1:]),
        "load": "load average %.2f %.2f %.2f" % os.getloadavg(),
        "quick": opts.quick,
    }


def ratio(row: Row, ceiling: dict[str, float]) -> str:
    base = ceiling.get(row.kind or "")
    if row.value is None or not base:
        return ""
    return f"{row.value / base:.2f}x"


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.{0 if abs(value) >= 100 else 2 if abs(value) >= 1 else 3}f}"


def print_table(rows: list[Row], machine: dict) -> None:
    ceiling = {r.kind: r.value for r in rows if r.part == "ceilings" and r.name.startswith("bare aiohttp") and r.kind}
    print()
    print(" | ".join(f"{k}: {v}" for k, v in machine.items()))
    header = ("part", "figure", "value", "unit", "vs aiohttp", "target", "note")
    table = [header] + [
        (r.part, r.name, _number(r.value), r.unit,
         ratio(r, ceiling), r.target, r.note)
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    for n, line in enumerate(table):
        cells = [cell.rjust(w) if i in (2, 4) else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))]
        print("  ".join(cells + [line[-1]]).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main())
