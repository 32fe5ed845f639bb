"""Leases renewed while a delivery is in flight: a send held past its lease stays with the
process that holds it, and only a process that stopped renewing loses its claims.

The receiver holds each request until the test lets it go, while the fake clock moves past
the lease: the send lasts as long as the test needs, whatever the clock says.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from datetime import timedelta

import anyio.to_thread
import pytest

from app.services.webhooks import update_webhook
from app.storage.models import DELIVERING, SUCCEEDED, Attempt, Delivery
from tests.helpers import Receiver, emit, make_webhook

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


class HeldReceiver(Receiver):
    """Answers nothing until `release` is set (10 s at most)."""

    def __init__(self):
        self.release = threading.Event()
        super().__init__()

    async def app(self, scope, receive, send):
        await anyio.to_thread.run_sync(self.release.wait, 10)
        await super().app(scope, receive, send)


@pytest.fixture
def held_receiver():
    server = HeldReceiver().start()
    yield server
    server.release.set()
    server.stop()


@pytest.fixture
def slow_settings(settings):
    """A request timeout that a held request cannot reach however slow the test runs."""
    return settings.replace(request_timeout=10)


def only_delivery() -> Delivery:
    (delivery,) = Delivery.select()
    return delivery


@contextlib.asynccontextmanager
async def two_senders(make_engine, settings, clock, url: str):
    """One delivery to `url` and two dispatchers of their own (two processes) on it."""
    webhook = make_webhook(settings, clock, url)
    emit(settings, clock)
    yield webhook, *[(await make_engine(settings)).dispatcher for _ in range(2)]


async def test_a_lease_is_renewed_once_the_clock_passes_a_third_of_it(db, slow_settings, clock, held_receiver, make_engine):
    settings, lease = slow_settings, slow_settings.lease_seconds
    async with two_senders(make_engine, settings, clock, held_receiver.url()) as (_, holder, _):
        assert await holder.sweep() == 1
        claimed_lease = only_delivery().lease_expires_at
        clock.advance(lease / 3 - 1)
        assert await holder.renew_leases() == 0, "two thirds of it left: not yet"
        assert only_delivery().lease_expires_at == claimed_lease
        clock.advance(2)
        assert await holder.renew_leases() == 1
        assert only_delivery().lease_expires_at == clock() + timedelta(seconds=lease)
        held_receiver.release.set()
        await holder.drain(timeout=10)
    assert only_delivery().status == SUCCEEDED


async def test_a_send_held_past_its_lease_is_renewed_and_not_claimed_again(db, slow_settings, clock, held_receiver, make_engine):
    settings, lease = slow_settings, slow_settings.lease_seconds
    async with two_senders(make_engine, settings, clock, held_receiver.url()) as (_, holder, other):
        assert await holder.sweep() == 1
        assert await holder.renew_leases() == 0, "a fresh lease is left alone"
        clock.advance(lease / 2)
        assert await holder.renew_leases() == 1
        clock.advance(lease / 2 + 1)  # past the lease it was claimed with
        assert await other.sweep() == 0, "the renewed claim is still held"
        assert only_delivery().status == DELIVERING
        clock.advance(lease / 3)
        assert await holder.renew_leases() == 1, "renewed again while still in flight"
        held_receiver.release.set()
        await holder.drain(timeout=10)
        clock.advance(lease)
        assert await other.sweep() == 0, "recorded with the renewed lease: nothing left to claim"
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts, delivery.lease_expires_at) == (SUCCEEDED, 1, None)
    assert Attempt.select().count() == 1
    assert len(held_receiver.requests) == 1


async def test_a_process_that_stopped_renewing_has_its_claim_taken_over(db, slow_settings, clock, held_receiver, make_engine):
    settings, lease = slow_settings, slow_settings.lease_seconds
    async with two_senders(make_engine, settings, clock, held_receiver.url()) as (_, dead, other):
        assert await dead.sweep() == 1
        clock.advance(lease / 2)
        assert await dead.renew_leases() == 1
        await dead.drain(timeout=0)  # killed mid-send: no record, no release, no more renewals
        clock.advance(lease / 2 + 1)
        assert await other.sweep() == 0, "its last renewal still holds"
        clock.advance(lease / 2)
        held_receiver.release.set()
        assert await other.sweep() == 1, "taken over once the renewed lease ran out"
        await other.drain(timeout=10)
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts) == (SUCCEEDED, 1)
    assert Attempt.select().count() == 1, "the killed process recorded nothing"
    assert held_receiver.requests


async def test_a_claim_taken_over_before_its_renewal_logs_its_attempt_without_moving_the_row(
    db, slow_settings, clock, held_receiver, caplog, make_engine
):
    settings, lease = slow_settings, slow_settings.lease_seconds
    held_receiver.plan("/late", 500)
    async with two_senders(make_engine, settings, clock, held_receiver.url("/late")) as (webhook, late, other):
        assert await late.sweep() == 1
        clock.advance(lease + 1)  # stuck past its lease without renewing
        # Each claim reads the URL: the late attempt fails, the one that took over succeeds.
        update_webhook(webhook.id, None, {"url": held_receiver.url("/other")}, settings, clock())
        assert await other.sweep() == 1
        with caplog.at_level(logging.WARNING, logger="hookline.dispatch"):
            assert await late.renew_leases() == 0
        assert "1 deliveries in flight ran out of lease and were claimed by another process" in caplog.text
        held_receiver.release.set()
        await late.drain(timeout=10)
        await other.drain(timeout=10)
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (SUCCEEDED, 1, 200)
    assert sorted(a.response_status for a in Attempt.select()) == [200, 500], "both attempts stay in the log"
    assert [len(held_receiver.to(path)) for path in ("/late", "/other")] == [1, 1]
