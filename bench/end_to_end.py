"""End-to-end benchmark: `hookline serve` as a subprocess, a fast receiver on loopback.

Emits N events (closed loop, C concurrent clients) to W webhooks and prints emit rate,
delivery rate from first emit to last arrival, and emit-to-arrival latency percentiles.
Loopback only, bounded in count and time. Run: `make bench` or
`.venv/bin/python -m bench.end_to_end --events 2000 --webhooks 5`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

ADMIN_KEY = "hl_bench_admin_key_0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}
DEADLINE_SECONDS = 300


class Receiver:
    """Raw ASGI: records arrival time per (webhook-id, path) and answers 204."""

    def __init__(self):
        self.arrivals: dict[tuple[str, str], float] = {}
        self.done = threading.Event()
        self.expected = 0

    async def __call__(self, scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        headers = dict(scope["headers"])
        self.arrivals.setdefault((headers[b"webhook-id"].decode(), scope["path"]), time.perf_counter())
        if len(self.arrivals) >= self.expected:
            self.done.set()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def emit_all(base: str, count: int, concurrency: int, rate: float | None) -> dict[str, float]:
    """Closed loop with `concurrency` clients, or open loop at `rate` events/s (requests
    start on schedule whether or not earlier ones finished). Returns event id -> 202 time."""
    acknowledged: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=30) as client:

        async def emit_one(n: int) -> None:
            response = await client.post("/api/v1/events", json={"type": "order.created", "data": {"n": n, "pad": "x" * 900}})
            response.raise_for_status()
            acknowledged[response.json()["id"]] = time.perf_counter()

        if rate:
            started = time.perf_counter()
            tasks = []
            for n in range(count):
                await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(emit_one(n)))
            await asyncio.gather(*tasks)
        else:
            queue = iter(range(count))

            async def worker():
                for n in queue:
                    await emit_one(n)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    return acknowledged


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--webhooks", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=20, help="closed-loop emitters")
    parser.add_argument("--rate", type=float, help="open loop: emit this many events/s instead")
    args = parser.parse_args()

    receiver = Receiver()
    receiver.expected = args.events * args.webhooks
    receiver_port = free_port()
    server = uvicorn.Server(uvicorn.Config(receiver, host="127.0.0.1", port=receiver_port, log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()

    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="hookline-bench-"))
    env = {
        **os.environ,
        "HOOKLINE_DATABASE_URL": f"sqlite:///{workdir}/hookline.db",
        "HOOKLINE_ADMIN_KEY": ADMIN_KEY,
        "HOOKLINE_CONFIG": str(Path(__file__).parent.parent / "config.toml"),
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "hookline"), "serve", "--dev", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        for n in range(args.webhooks):
            httpx.post(f"{base}/api/v1/webhooks", json={"url": f"http://127.0.0.1:{receiver_port}/hook{n}"}, headers=HEADERS).raise_for_status()

        cpu_before = _process_cpu(process.pid)
        started = time.perf_counter()
        acknowledged = asyncio.run(emit_all(base, args.events, args.concurrency, args.rate))
        emitted = time.perf_counter()
        finished = receiver.done.wait(DEADLINE_SECONDS)
        ended = time.perf_counter()
        cpu_used = _process_cpu(process.pid) - cpu_before
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        server.should_exit = True

    delivered = len(receiver.arrivals)
    latencies = [(at - acknowledged[event_id]) * 1000 for (event_id, _), at in receiver.arrivals.items() if event_id in acknowledged]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    load = f"open loop at {args.rate:g} events/s" if args.rate else f"{args.concurrency} concurrent emitters"
    print(f"events: {args.events} x {args.webhooks} webhooks, {load}, 1 KB bodies")
    print(f"emit:       {args.events / (emitted - started):8.0f} events/s accepted (202)")
    print(f"delivery:   {delivered / (ended - started):8.0f} deliveries/s, first emit to last arrival ({delivered}/{receiver.expected} arrived)")
    print(f"server CPU: {cpu_used / max(delivered, 1) * 1000:8.3f} ms per delivery (emit + send + record)")
    if latencies:
        print(f"emit->arrival latency: p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms")
    return 0 if finished else 1


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    sys.exit(main())
