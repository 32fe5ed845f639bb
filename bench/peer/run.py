"""The peer, side by side: django-webhook (Celery + Redis) delivering the same events to
the same receiver.

Everything it needs stays out of Hookline: a throwaway venv in bench/.cache/peer-venv
(django-webhook pinned, Celery with Redis), Debian's redis-server (installed with apt when
missing) started on a free loopback port and stopped at the end, and the minimal Django
project in bench/peer/site/. `peer_events` orders are created by `emitters` processes;
each fires one Celery task per webhook; Celery runs `peer_workers` prefork processes.
Measured like ours: deliveries/s from the first emit to the last 2xx, and CPU seconds per
delivery of everything on the peer's side (workers, emitters, Redis).

If django-webhook cannot be set up or run, the reason is printed and kept in the table,
and the stand-in (bench/peer/site/standin.py: a Celery task per delivery, httpx, retries)
runs instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import CACHE, ReceiverProcess, Row, Subprocess, free_port, tree_cpu, wait_until

SITE = Path(__file__).resolve().parent / "site"
VENV = CACHE / "peer-venv"
PACKAGES = ["django-webhook==0.0.15", "celery[redis]>=5.3", "httpx>=0.28"]


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    marker = VENV / ".installed"
    if not marker.exists() or marker.read_text() != " ".join(PACKAGES):
        print("creating the peer's venv in bench/.cache/peer-venv ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PACKAGES], check=True, timeout=900)
        marker.write_text(" ".join(PACKAGES))
    return python


def ensure_redis() -> str:
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if found:
        return found
    print("installing Debian's redis-server with apt-get ...", file=sys.stderr, flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", "redis-server"]
    if subprocess.run(install, env=env, capture_output=True, timeout=600).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, capture_output=True, timeout=600, check=True)
        subprocess.run(install, env=env, capture_output=True, timeout=600, check=True)
    # the package also starts a system service on the default port; ours runs on its own port
    subprocess.run([*sudo, "systemctl", "stop", "redis-server"], capture_output=True, timeout=60)
    return shutil.which("redis-server") or "/usr/bin/redis-server"


def _drive(python: Path, env: dict, *args: str, timeout: float) -> dict:
    done = subprocess.run([str(python), "drive.py", *args], cwd=SITE, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"drive.py {args[0]} failed: {_last_line(done.stderr)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _last_line(stderr: str) -> str:
    """The exception line of a traceback: what the table can show."""
    return (stderr.strip().splitlines() or ["(no output)"])[-1]


def deliver(opts, workdir: Path, receiver: ReceiverProcess, python: Path, redis_url: str, standin: bool) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    urls = [receiver.url(f"/fast/peer{n}") for n in range(opts.webhooks)]
    env = {**os.environ, "PEER_DB": str(workdir / "peer.db"), "PEER_REDIS": redis_url, "PEER_URLS": ",".join(urls),
           "DJANGO_SETTINGS_MODULE": "peersite.settings", "PYTHONPATH": str(SITE)}
    flag = ["--standin"] if standin else []
    _drive(python, env, "setup", *urls, *flag, timeout=300)
    worker = Subprocess(
        [str(VENV / "bin" / "celery"), "-A", "standin" if standin else "peersite", "worker", "--pool", "prefork",
         "--concurrency", str(opts.peer_workers), "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
        workdir / "celery.log", env, SITE,
    )
    try:
        time.sleep(3)  # Celery has no ready probe that is cheaper than waiting for its boot
        worker.check_alive("the Celery worker")
        receiver.reset()
        cpu_before = tree_cpu(worker.pid)
        started = time.monotonic()
        share = -(-opts.peer_events // opts.emitters)
        emitters = [
            subprocess.Popen([str(python), "drive.py", "emit", str(k * share), str(min(share, opts.peer_events - k * share)),
                              *flag], cwd=SITE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for k in range(opts.emitters) if k * share < opts.peer_events
        ]
        emitter_cpu = 0.0
        for process in emitters:
            out, err = process.communicate(timeout=opts.part_timeout / 2)
            if process.returncode != 0:
                raise RuntimeError(f"drive.py emit failed: {_last_line(err)}")
            emitter_cpu += json.loads(out.strip().splitlines()[-1])["cpu"]
        emitted = time.monotonic()
        expected = opts.peer_events * opts.webhooks
        stats = receiver.wait_for(expected, opts.part_timeout / 2, "fast")
        worker_cpu = tree_cpu(worker.pid) - cpu_before
    finally:
        worker.stop(timeout=30)
    delivered = stats["unique_by_prefix"].get("fast", 0)
    return {"delivered": delivered, "expected": expected, "seconds": (stats["last"] or started) - started,
            "emit_seconds": emitted - started, "cpu": worker_cpu + emitter_cpu}


def run(opts, workdir: Path, receiver: ReceiverProcess) -> list[Row]:
    workdir.mkdir(parents=True, exist_ok=True)
    python = ensure_venv()
    port = free_port()
    redis = Subprocess([ensure_redis(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                       workdir / "redis.log")
    try:
        wait_until(lambda: "Ready to accept" in redis.log.read_text(errors="replace"), 20)
        redis.check_alive("redis-server")
        redis_cpu = tree_cpu(redis.pid)
        name, why = "django-webhook 0.0.15", ""
        try:
            result = deliver(opts, workdir / "django-webhook", receiver, python, f"redis://127.0.0.1:{port}/0", False)
        except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
            why = f"django-webhook could not be run ({exc}); stand-in: Celery + Redis + httpx task with retries"
            print(why, file=sys.stderr)
            name = "stand-in (Celery + httpx)"
            result = deliver(opts, workdir / "standin", receiver, python, f"redis://127.0.0.1:{port}/1", True)
        result["cpu"] += tree_cpu(redis.pid) - redis_cpu
    finally:
        redis.stop()
    rate = result["delivered"] / result["seconds"] if result["seconds"] > 0 else 0.0
    how = (f"{result['delivered']}/{result['expected']} delivered; {opts.peer_events} events x {opts.webhooks} webhooks,"
           f" {opts.emitters} emitters, {opts.peer_workers} prefork workers")
    return [
        Row("peer", "peer: deliveries/s", rate, "dlv/s", "rate", note=f"{name}: {how}" + (f"; {why}" if why else "")),
        Row("peer", "peer: CPU per delivery (workers + emitters + Redis)",
            result["cpu"] / max(result["delivered"], 1) * 1000, "ms", "cpu"),
        Row("peer", "peer: emit rate", opts.peer_events / result["emit_seconds"], "events/s"),
    ]
