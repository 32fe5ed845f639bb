"""A database that is locked by someone else: writes answer 503 and store nothing, and
the sender backs off its claims and recovers when the lock goes away.

The busy timeout is shortened for these tests only (the real one queues writers for 10 s);
the lock is a real exclusive transaction from another connection, as another process would
hold it.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3

import pytest

from app.storage.db import SQLITE_PRAGMAS
from app.storage.models import SUCCEEDED, Delivery, Event, Webhook
from tests.helpers import ADMIN, emit, make_webhook, serving


@pytest.fixture
def short_busy_timeout(monkeypatch):
    monkeypatch.setitem(SQLITE_PRAGMAS, "busy_timeout", 100)


@contextlib.contextmanager
def locked(settings):
    """Another connection holding the write lock, as a busy process would."""
    other = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_writes_answer_503_with_retry_after_and_store_nothing(short_busy_timeout, settings, clock, caplog):
    with serving(settings, clock, run_sender=False) as client:
        hook = {"url": "http://127.0.0.1:9/hook"}
        assert client.post("/api/v1/webhooks", json=hook, headers=ADMIN).status_code == 201
        with locked(settings):
            refused = client.post("/api/v1/events", json={"type": "order.paid"}, headers=ADMIN)
            refused_create = client.post("/api/v1/webhooks", json=hook, headers=ADMIN)
            assert client.get("/api/v1/webhooks", headers=ADMIN).status_code == 200, "reads still work"
        assert refused.status_code == refused_create.status_code == 503
        assert refused.headers["Retry-After"] == "2"
        assert "nothing was stored" in refused.json()["error"]["message"]
        assert (Event.select().count(), Delivery.select().count(), Webhook.select().count()) == (0, 0, 1)

        accepted = client.post("/api/v1/events", json={"type": "order.paid"}, headers=ADMIN)
        assert accepted.status_code == 202
        assert (Event.select().count(), Delivery.select().count()) == (1, 1)
    assert "database unavailable on POST /api/v1/events: database is locked" in caplog.text


def test_dashboard_shows_a_503_page(short_busy_timeout, settings, clock, dashboard):
    with locked(settings):
        response = dashboard.post("/webhooks", {"name": "Billing", "url": "http://127.0.0.1:9/hook", "events": "order.created"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert "database is busy" in response.text


@pytest.mark.anyio
async def test_sweeper_backs_off_while_locked_and_recovers(short_busy_timeout, db, settings, clock, receiver, caplog, engine):
    """A minute of ticks against a locked database tries to claim at 0, 1, 3, 7, 15 and
    31 s (backing off 1, 2, 4 … 30 s): six errors logged, not sixty. Once the lock goes,
    the next try delivers."""
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    dispatcher = engine.dispatcher
    with caplog.at_level(logging.INFO, "hookline.dispatch"):
        with locked(settings):
            for _ in range(60):
                assert await dispatcher.sweep() == 0
                clock.advance(1)
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert [r.getMessage().rsplit("next try in ", 1)[1] for r in errors] == ["1s", "2s", "4s", "8s", "16s", "30s"]
        assert "could not claim due deliveries (6 failed in a row): database is locked" in errors[-1].getMessage()
        assert await dispatcher.sweep() == 0, "still backing off: the next try is at 61 s"
        clock.advance(1)
        assert await dispatcher.sweep() == 1
        await dispatcher.drain(timeout=10)
    assert "claiming again after 6 failed claims" in caplog.text
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 6
    assert Delivery.get().status == SUCCEEDED and len(receiver.requests) == 1


@pytest.mark.anyio
async def test_a_clock_turned_back_does_not_stretch_the_backoff(short_busy_timeout, db, settings, clock, receiver, engine):
    make_webhook(settings, clock, receiver.url())
    dispatcher = engine.dispatcher
    with locked(settings):
        assert await dispatcher.sweep() == 0  # failed: the next try is due in 1 s
    clock.advance(-3600)
    emit(settings, clock)
    assert await dispatcher.sweep() == 1, "an hour back is no reason to wait an hour"
    await dispatcher.drain(timeout=10)
    assert len(receiver.requests) == 1
