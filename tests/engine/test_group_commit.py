"""On SQLite, every write of the engine is a write of the process's group-commit writer
(app/storage/writer.py): claims and records, and lease renewals and releases too, so that
none of them waits for SQLite's write lock beside the writer's batch.

The writer is the real one, counting the writes queued to it; the send goes to a socket that
listens and never answers, so the claim stays in flight for as long as the test needs.
"""

from __future__ import annotations

import socket

import pytest

from app.services.events import Lookups
from app.storage.models import DELIVERING, PENDING, Delivery
from app.storage.writer import GroupWriter
from tests.helpers import emit, make_webhook

pytestmark = pytest.mark.anyio


class CountingWriter(GroupWriter):
    def __init__(self, *args):
        super().__init__(*args)
        self.writes = 0

    async def write(self, job):
        self.writes += 1
        return await super().write(job)


@pytest.fixture
def silent_url():
    """A listening socket on loopback that never accepts: a request to it gets no answer."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"


async def test_renewals_and_releases_go_through_the_writer_as_claims_do(db, settings, clock, silent_url, make_engine):
    settings = settings.replace(request_timeout=10)  # far beyond the test: the send stays in flight
    make_webhook(settings, clock, silent_url)
    emit(settings, clock)
    writer = CountingWriter(clock, lambda: Lookups(settings))
    writer.start()
    try:
        dispatcher = (await make_engine(settings, writer=writer)).dispatcher
        assert await dispatcher.sweep() == 1
        assert writer.writes == 1, "the claim"
        claimed_lease = Delivery.get().lease_expires_at

        clock.advance(settings.lease_seconds / 2)
        assert await dispatcher.renew_leases() == 1
        assert writer.writes == 2, "the renewal"
        delivery = Delivery.get()
        assert (delivery.status, delivery.lease_expires_at > claimed_lease) == (DELIVERING, True)

        await dispatcher.shutdown(timeout=0)
        assert writer.writes == 3, "the release"
    finally:
        writer.stop()
    delivery = Delivery.get()
    assert (delivery.status, delivery.attempts, delivery.lease_expires_at) == (PENDING, 0, None)
