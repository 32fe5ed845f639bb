"""SIGTERM: the sender stops claiming, lets sends in flight finish within request_timeout,
and hands back what it could not finish, so no delivery waits for a lease to run out."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from app.storage.models import DELIVERING, PENDING, Attempt, Delivery
from tests.helpers import (
    ADMIN, ADMIN_KEY, Reply, emit, eventually, eventually_async, free_port, make_webhook, serve_hookline, stop_hookline,
)

HANG = 30  # longer than any timeout here: the receiver never answers in time


@pytest.mark.anyio
async def test_shutdown_releases_sends_it_cuts_off(db, settings, clock, receiver, caplog, engine):
    receiver.plan("/hook", Reply(200, delay=HANG))
    make_webhook(settings, clock, receiver.url())
    for _ in range(3):
        emit(settings, clock)
    dispatcher = engine.dispatcher
    assert await dispatcher.sweep() == 3
    await eventually_async(lambda: len(receiver.requests) == 3, what="the three sends at the receiver")
    clock.advance(5)  # the receiver hangs; the shutdown comes while it does
    with caplog.at_level(logging.WARNING, "hookline.dispatch"):
        await dispatcher.shutdown(timeout=0)  # no time to finish: every send is cut off
    assert await dispatcher.sweep() == 0, "a stopping sender claims nothing"
    assert [(d.status, d.attempts, d.lease_expires_at) for d in Delivery.select()] == [(PENDING, 0, None)] * 3
    assert [d.next_attempt_at for d in Delivery.select()] == [clock()] * 3, "due at once for another process"
    assert "released 3 unfinished deliveries" in caplog.text


def test_sigterm_during_slow_deliveries(env, tmp_path, receiver, db):
    request_timeout = 2
    env = {**env, "HOOKLINE_ADMIN_KEY": ADMIN_KEY, "HOOKLINE_REQUEST_TIMEOUT": f"{request_timeout}s",
           "HOOKLINE_LEASE_SECONDS": "60s", "HOOKLINE_MAX_CONCURRENCY": "4"}
    receiver.plan("/hook", Reply(200, delay=HANG))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = serve_hookline(env, port, tmp_path)
    try:
        httpx.post(f"{base}/api/v1/webhooks", json={"url": receiver.url()}, headers=ADMIN).raise_for_status()
        for n in range(10):
            httpx.post(f"{base}/api/v1/events", json={"type": "order.created", "data": {"n": n}}, headers=ADMIN).raise_for_status()
        receiver.wait_for(4)
        eventually(lambda: Delivery.select().where(Delivery.status == DELIVERING).count() == 4, 5, "4 sends in flight")
    finally:
        began = time.monotonic()
        output = stop_hookline(process)
        took = time.monotonic() - began
    assert took < request_timeout + 5, f"shutdown took {took:.1f}s"
    assert Delivery.select().where(Delivery.status == DELIVERING).count() == 0, output
    assert Delivery.select().where(Delivery.status == PENDING).count() == 10
    assert Attempt.select().count() <= 4, "only the sends in flight were attempted"
