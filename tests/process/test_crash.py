"""kill -9 in the middle of sending: every accepted event still arrives, at least once.

1,000 events from 8 emitters that send again until accepted, a receiver that takes 0.1 s
per request, the server killed once half of them are accepted, then restarted. About 35 s
on 2 busy cores.
"""

from __future__ import annotations

import collections
import concurrent.futures
import signal
import threading
import time

import httpx

from app.storage.models import DELIVERING, SUCCEEDED, Delivery
from tests.helpers import ADMIN, ADMIN_KEY, Reply, eventually, free_port, serve_hookline, stop_hookline

EVENTS = 1000
MAX_CONCURRENCY = 16
EMITTERS = 8


def test_no_accepted_event_is_lost_when_the_server_is_killed(env, tmp_path, receiver, db):
    env = {
        **env,
        "HOOKLINE_ADMIN_KEY": ADMIN_KEY,
        "HOOKLINE_MAX_CONCURRENCY": str(MAX_CONCURRENCY),
        "HOOKLINE_REQUEST_TIMEOUT": "2s",
        "HOOKLINE_LEASE_SECONDS": "3s",
    }
    receiver.plan("/hook", Reply(200, delay=0.1))  # slow: a backlog builds up before the kill
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = serve_hookline(env, port, tmp_path)
    httpx.post(f"{base}/api/v1/webhooks", json={"url": receiver.url()}, headers=ADMIN).raise_for_status()

    accepted: list[str] = []
    given_up = threading.Event()  # the test failed: emitters stop instead of retrying on

    def emit(n: int) -> None:
        """Like a careful client: send again until the event is accepted (the server is down
        for a while in the middle)."""
        for _ in range(600):
            if given_up.is_set():
                return
            try:
                response = client.post("/api/v1/events", json={"type": "order.created", "data": {"n": n}}, headers=ADMIN)
                if response.status_code == 202:
                    accepted.append(response.json()["id"])
                    return
            except httpx.TransportError:
                pass  # not accepted, nothing promised
            time.sleep(0.1)
        raise AssertionError(f"event {n} was never accepted")

    restarted = None
    # One keep-alive client for every emitter: a client per request spends more CPU on
    # setting up than the server spends on the event.
    with httpx.Client(base_url=base) as client, concurrent.futures.ThreadPoolExecutor(EMITTERS) as pool:
        try:
            emitting = [pool.submit(emit, n) for n in range(EVENTS)]
            # Emits are much faster than this receiver: the kill must come before the last
            # one is accepted, once the first sends are out.
            eventually(lambda: len(accepted) >= EVENTS // 2 and receiver.requests, 60, "emits and sends under way")
            process.send_signal(signal.SIGKILL)  # mid-stream: emits and sends in flight
            process.wait(timeout=10)
            accepted_before_the_kill = len(accepted)
            restarted = serve_hookline(env, port, tmp_path)
            for future in emitting:
                future.result()
            assert EVENTS // 2 <= accepted_before_the_kill < EVENTS == len(accepted)

            def all_arrived():
                received = {r.headers["webhook-id"] for r in receiver.requests}
                return received >= set(accepted)

            eventually(all_arrived, 60, "every accepted event at the receiver")
            eventually(lambda: Delivery.select().where(Delivery.status != SUCCEEDED).count() == 0, 30, "all deliveries done")
        finally:
            given_up.set()
            if restarted is not None:
                stop_hookline(restarted)
            elif process.poll() is None:
                process.kill()

    counts = collections.Counter(r.headers["webhook-id"] for r in receiver.requests)
    duplicates = sum(n - 1 for n in counts.values())
    print(f"crash test: {len(accepted)} accepted of {EVENTS} emitted, {len(counts)} delivered, "
          f"{duplicates} duplicated, {len(set(accepted) - set(counts))} lost")
    assert duplicates <= MAX_CONCURRENCY, "only deliveries in flight at the kill may arrive twice"
    assert Delivery.select().where(Delivery.status == DELIVERING).count() == 0
    # An emit whose commit beat the kill but whose 202 did not is stored, and delivered, too.
    assert len(accepted) <= Delivery.select().count() <= len(accepted) + EMITTERS
