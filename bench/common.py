"""What every part of the benchmark shares: the receiver and `hookline serve` as
subprocesses, the emitting load generator, /proc readings, and the result rows.

Each part runs its servers as separate processes so that their CPU time and memory can be
read from /proc on their own, and the load generator (aiohttp, the lightest client we
have) stays out of the measured process. Arrival times are `time.monotonic()`, which is
CLOCK_MONOTONIC on Linux and therefore comparable between the processes of one machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"
ADMIN_KEY = "hl_bench_admin_key_0123456789abcdef"
# A fixed Fernet key: the cached backlog database holds secrets encrypted with it.
ENCRYPTION_KEY = "YmVuY2gtb25seS1lbmNyeXB0aW9uLWtleS0zMmJ5dGU="
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
PAD = "x" * 900  # with the envelope around it, a body of about 1 KB


@dataclass
class Row:
    """One figure of the final table. `kind` says which ceiling figure it is compared with:
    rate (higher is better), cpu (CPU seconds per request), p50/p99 (latency)."""

    part: str
    name: str
    value: float | None
    unit: str
    kind: str | None = None
    target: str = ""
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class PartTimeout(Exception):
    """A part ran past its time limit; its servers are stopped by the `finally` blocks."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str):
    """SIGALRM-based: interrupts even a blocking wait in the main thread."""
    def expire(signum, frame):
        raise PartTimeout(f"{what} did not finish within {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Throughput on this machine varies by ±10% from one run to the next, as much as the
# ratio targets allow: parts that compare two setups run each this many times,
# alternating, and compare the means.
ROUNDS = 2


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def raise_fd_limit() -> None:
    """10,000 connections in flight need more descriptors than the usual soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and all its live descendants (Celery's prefork children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        with contextlib.suppress(OSError):
            total += process_cpu(current)
        stack.extend(children.get(current, []))
    return total


def memory_mb(pid: int) -> dict[str, float]:
    """Current (VmRSS) and peak (VmHWM) resident memory, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values


class RssSampler:
    """The largest VmRSS seen while the block runs. VmHWM would not do: `hookline serve`
    peaks at start-up (about 120 MB, briefly) above where steady sending stays."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval, self.peak_mb = pid, interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.peak_mb = max(self.peak_mb, memory_mb(self.pid)["VmRSS"])
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(5)


def wait_until(check, timeout: float, interval: float = 0.1):
    """Poll until `check()` is truthy or `timeout` passes; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def http_json(url: str, data: dict | None = None, headers: dict | None = None, timeout: float = 30) -> dict:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read()
    return json.loads(text) if text else {}


class Subprocess:
    """A child process with its output in a log file, stopped for sure on exit."""

    def __init__(self, argv: list[str], log: Path, env: dict | None = None, cwd: Path | None = None):
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        self._log_file = open(log, "wb")
        self.process = subprocess.Popen(
            argv, env={**os.environ, **(env or {})}, cwd=cwd, stdout=self._log_file, stderr=subprocess.STDOUT,
            preexec_fn=raise_fd_limit,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self, what: str) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{what} exited with {self.process.returncode}; see {self.log}:\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log_file.close()


class ReceiverProcess(Subprocess):
    """bench/receiver.py on a free port: the one receiver every part sends to."""

    def __init__(self, workdir: Path, hang_seconds: float = 60, hold_seconds: float = 120):
        self.port = free_port()
        super().__init__(
            [sys.executable, "-m", "bench.receiver", "--port", str(self.port),
             "--hang", str(hang_seconds), "--hold", str(hold_seconds)],
            workdir / "receiver.log", cwd=ROOT,
        )
        if not wait_until(self._up, 20):
            self.check_alive("the receiver")
            raise RuntimeError("the receiver did not start listening within 20s")

    def _up(self) -> bool:
        try:
            self.stats()
            return True
        except OSError:
            return False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stats(self) -> dict:
        return http_json(self.url("/_stats"), timeout=10)

    def arrivals(self) -> list[tuple[str, str, float]]:
        """(webhook-id, path, first arrival) for every distinct delivery."""
        return [tuple(item) for item in http_json(self.url("/_arrivals"), timeout=60)]

    def reset(self) -> None:
        http_json(self.url("/_reset"), {})

    def release(self) -> None:
        http_json(self.url("/_release"), {})

    def wait_for(self, unique: int, timeout: float, prefix: str | None = None) -> dict:
        """Wait until `unique` distinct deliveries (under /prefix/ if given) arrived."""
        def enough():
            stats = self.stats()
            count = stats["unique_by_prefix"].get(prefix, 0) if prefix else stats["unique"]
            return stats if count >= unique else None

        return wait_until(enough, timeout, 0.1) or self.stats()


HOOKLINE = Path(sys.executable).parent / "hookline"


class HooklineServer(Subprocess):
    """`hookline serve --dev` on its own database, configured through HOOKLINE_* variables."""

    def __init__(self, workdir: Path, database_url: str | None = None, settings: dict | None = None):
        self.port = free_port()
        self.env = {
            "HOOKLINE_CONFIG": str(ROOT / "config.toml"),
            "HOOKLINE_DATABASE_URL": database_url or f"sqlite:///{workdir}/hookline.db",
            "HOOKLINE_ADMIN_KEY": ADMIN_KEY,
            "HOOKLINE_ENCRYPTION_KEYS": ENCRYPTION_KEY,
            **{f"HOOKLINE_{key.upper()}": str(value) for key, value in (settings or {}).items()},
        }
        self.workdir = workdir
        super().__init__([str(HOOKLINE), "serve", "--dev", "--port", str(self.port)], workdir / "serve.log", self.env, ROOT)
        if not wait_until(self._up, 60):
            self.check_alive("hookline serve")
            raise RuntimeError(f"hookline serve did not answer /healthz within 60s; see {self.log}")
        self.base = f"http://127.0.0.1:{self.port}"

    def _up(self) -> bool:
        self.check_alive("hookline serve")
        try:
            http_json(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
            return True
        except OSError:
            return False

    def create_webhook(self, url: str, **fields) -> str:
        return http_json(f"{self.base}/api/v1/webhooks", {"url": url, **fields}, AUTH)["id"]

    def cpu(self) -> float:
        return process_cpu(self.pid)

    def worker(self, number: int) -> Subprocess:
        """`hookline worker` on the same database and settings: another sender process."""
        return Subprocess([str(HOOKLINE), "worker", "--dev"], self.workdir / f"worker-{number}.log", self.env, ROOT)

    def memory(self) -> dict[str, float]:
        return memory_mb(self.pid)


@dataclass
class Emitted:
    """One emit request: when it was meant to go, when the 202 came back, the event id."""

    intended: float
    answered: float
    event_id: str

    @property
    def latency_ms(self) -> float:
        return (self.answered - self.intended) * 1000


def event_body(n: int, type_name: str = "order.created") -> dict:
    return {"type": type_name, "data": {"n": n, "pad": PAD}}


async def _post_event(session: aiohttp.ClientSession, base: str, n: int, batch: int, type_name: str) -> list[str]:
    if batch > 1:
        items = [event_body(n * batch + i, type_name) for i in range(batch)]
        async with session.post(f"{base}/api/v1/events/batch", json={"events": items}) as response:
            body = await response.json()
            if response.status != 202:
                raise RuntimeError(f"batch emit answered {response.status}: {body}")
            return [item["id"] for item in body["data"]]
    async with session.post(f"{base}/api/v1/events", json=event_body(n, type_name)) as response:
        body = await response.json()
        if response.status != 202:
            raise RuntimeError(f"emit answered {response.status}: {body}")
        return [body["id"]]


async def emit_closed_loop(base: str, count: int, concurrency: int, batch: int = 1,
                           type_name: str = "order.created") -> list[Emitted]:
    """`concurrency` connections, each sending its next request when the last one answered.
    With `batch` > 1 every request carries that many events (POST /api/v1/events/batch)."""
    done: list[Emitted] = []
    requests = iter(range((count + batch - 1) // batch))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=AUTH) as session:
        async def worker():
            for n in requests:
                sent = time.monotonic()
                ids = await _post_event(session, base, n, batch, type_name)
                answered = time.monotonic()
                done.extend(Emitted(sent, answered, event_id) for event_id in ids)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def emit_open_loop(
    base: str, rate: float, duration: float, type_name: str = "order.created"
) -> tuple[list[Emitted], list[str]]:
    """Requests start on schedule whether or not earlier ones finished, and latency counts
    from the intended start, so a stall shows in every request it delayed (no coordinated
    omission). Returns the accepted events and the refusals: a rate above what the server
    takes piles up connections until it answers 503, which is a result, not a crash."""
    done: list[Emitted] = []
    refused: list[str] = []
    started = time.monotonic()
    count = int(rate * duration)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, headers=AUTH) as session:
        async def one(n: int, intended: float):
            try:
                ids = await _post_event(session, base, n, 1, type_name)
            except (RuntimeError, aiohttp.ClientError) as exc:
                refused.append(str(exc))
            else:
                done.append(Emitted(intended, time.monotonic(), ids[0]))

        tasks = []
        for n in range(count):
            intended = started + n / rate
            await asyncio.sleep(max(0.0, intended - time.monotonic()))
            tasks.append(asyncio.create_task(one(n, intended)))
        await asyncio.gather(*tasks)
    return done, refused


def arrival_latencies_ms(emitted: list[Emitted], arrivals: list[tuple[str, str, float]]) -> list[float]:
    """Emit-to-first-attempt: receiver arrival minus the emit's (intended) send time."""
    sent = {e.event_id: e.intended for e in emitted}
    return [(at - sent[event_id]) * 1000 for event_id, _, at in arrivals if event_id in sent]
