"""The spool across killed app processes, with a real `hookline serve` and receiver.

1. The app spools 1,000 events while Hookline is down, and is SIGKILLed.
2. Hookline comes up; the app restarts and sends its spool through a proxy that keeps
   Hookline's answer back: the app is SIGKILLed after Hookline committed all 1,000 and
   before the app heard so (the worst moment: the spool still holds every event).
3. The app restarts again and sends them all again, with the same idempotency keys.
Every event arrives exactly once.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from app.storage.models import SUCCEEDED, Delivery, Event
from tests.helpers import ADMIN_KEY, eventually

EVENTS = 1000
APP = Path(__file__).with_name("spool_app.py")


def start_app(url: str, spool: Path, *args: str) -> subprocess.Popen:
    env = {"PATH": os.environ["PATH"], **{k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}}
    return subprocess.Popen([sys.executable, str(APP), url, ADMIN_KEY, str(spool), *args], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def first_line(app: subprocess.Popen) -> str:
    line = app.stdout.readline().strip()
    assert line, f"the app exited ({app.wait(timeout=10)}) without a word"
    return line


def kill(app: subprocess.Popen) -> None:
    app.send_signal(signal.SIGKILL)
    app.wait(timeout=10)
    app.stdin.close()
    app.stdout.close()


def test_every_spooled_event_arrives_exactly_once_across_kills(hookline, receiver, holding_proxy, tmp_path):
    spool = tmp_path / "app-spool.db"
    app = start_app(hookline.url, spool, "emit", str(EVENTS))  # Hookline is not running yet
    try:
        assert first_line(app) == f"spooled {EVENTS}"
    finally:
        kill(app)

    hookline.start()
    httpx.post(f"{hookline.url}/api/v1/webhooks", json={"url": receiver.url()},
               headers={"Authorization": f"Bearer {ADMIN_KEY}"}).raise_for_status()
    proxy = holding_proxy()
    app = start_app(proxy.url(), spool, "deliver")
    try:
        assert first_line(app) == f"pending {EVENTS}"
        eventually(lambda: proxy.answers, 60, "Hookline to answer the spooled batch")
    finally:
        kill(app)
    assert proxy.answers[0].status_code == 202 and len(proxy.answers[0].json()["data"]) == EVENTS

    app = start_app(hookline.url, spool, "deliver", "--flush")
    try:
        resent = first_line(app)
        assert first_line(app) == "flushed 0"
    finally:
        app.stdin.close()
        app.wait(timeout=20)
        app.stdout.close()
    assert resent == f"pending {EVENTS}"  # the kill came before the spool heard back: all sent again

    eventually(lambda: Delivery.select().where(Delivery.status == SUCCEEDED).count() == EVENTS, 60,
               "every delivery to succeed")
    received = collections.Counter(r.headers["webhook-id"] for r in receiver.requests)
    numbers = collections.Counter(json.loads(r.body)["data"]["n"] for r in receiver.requests)
    stored = Event.select().count()
    print(f"spool kill test: {EVENTS} emitted, {len(received)} delivered, "
          f"{sum(n - 1 for n in received.values())} duplicated, {EVENTS - len(set(numbers) & set(range(EVENTS)))} lost "
          f"({stored} events stored; the second run's {EVENTS} were sent twice, the repeat answered as replays)")
    assert stored == EVENTS and sorted(numbers) == list(range(EVENTS)) and set(numbers.values()) == {1}
    assert len(received) == EVENTS and set(received.values()) == {1}
    assert [d.attempts for d in Delivery.select()] == [1] * EVENTS
