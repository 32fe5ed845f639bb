"""The spool: its SQLite file (a real file under tmp_path), its limits on an injected
clock, the sending rule in a table, and spooled clients against a real `hookline serve`."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from hookline_client import AsyncHookline, Hookline, SpoolFull, SpoolLimits, SpoolLocked, Spooled
from hookline_client import _core, _sending, _spool, errors
from hookline_client.types import Emitted
from tests.helpers import ADMIN_KEY, make_webhook


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def body(n: int, key: str | None = None) -> dict:
    return _core.emit_body("order.created", {"n": n}, None, key or f"k{n}")


@pytest.fixture
def spool_path(tmp_path):
    return tmp_path / "spool.db"


def test_spooled_events_survive_reopening_in_order(spool_path):
    spool = _spool.SpoolFile(spool_path)
    spool.append([body(0), body(1)]).result()
    spool.append([body(2)]).result()
    assert (spool.pending, spool.rejected) == (3, 0)
    spool.close()

    again = _spool.SpoolFile(spool_path)
    try:
        rows = again.take(10).result()
        assert [r.body["idempotency_key"] for r in rows] == ["k0", "k1", "k2"]
        assert again.pending == 3 and again.pending_bytes == sum(r.size for r in rows)
        again.settle(rows[:1], [(rows[1], _core.error_for(_core.Answer(422, {}, b""), errors.InvalidEvent))]).result()
        assert (again.pending, again.rejected) == (1, 1)
        assert [r.body["data"] for r in again.take(10).result()] == [{"n": 2}]
    finally:
        again.close()
    with sqlite3.connect(spool_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT status, message FROM rejected").fetchall() == [(422, "HTTP 422")]
    db.close()


def test_a_burst_from_many_threads_is_grouped_into_few_transactions(spool_path):
    spool = _spool.SpoolFile(spool_path)
    commits = []
    write = spool._write
    spool._write = lambda connection, ops: (commits.append(len(ops)) if ops else None, write(connection, ops))
    gate = threading.Barrier(16)

    def emitter(n: int) -> None:
        gate.wait()
        for i in range(20):
            spool.append([body(n * 100 + i)]).result()

    threads = [threading.Thread(target=emitter, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert spool.pending == 320 and sum(commits) == 320
        assert len(commits) < 320  # writes that queued up while one committed went in one transaction
    finally:
        spool.close()


def test_limits_refuse_an_emit_and_write_nothing_of_it(spool_path):
    clock = Clock()
    spool = _spool.SpoolFile(spool_path, SpoolLimits(max_events=3, max_bytes=10_000, max_age=60), clock)
    try:
        spool.append([body(0), body(1)]).result()
        with pytest.raises(SpoolFull, match="the spool holds 2 events, at most 3 may wait"):
            spool.append([body(2), body(3)])
        assert spool.pending == 2
        with pytest.raises(SpoolFull, match="bytes of events, at most 10000"):
            spool.append([_core.emit_body("a.b", "x" * 10_000, None, "big")])
        clock.now += 30
        assert spool.oldest_age == 30
        spool.append([body(2)]).result()
        clock.now += 31
        with pytest.raises(SpoolFull, match=r"waited 61 s, more than max_age \(60 s\)"):
            spool.append([body(3)])
        rows = spool.take(10).result()
        spool.settle(rows[:2], []).result()
        assert spool.oldest_age == 31  # the oldest left was spooled 30 s after the first
        spool.settle(rows[2:], []).result()
        assert (spool.pending, spool.pending_bytes, spool.oldest_age) == (0, 0, None)
    finally:
        spool.close()


def test_one_spool_has_one_client(spool_path):
    first = _spool.SpoolFile(spool_path)
    try:
        with pytest.raises(SpoolLocked):
            _spool.SpoolFile(spool_path)
    finally:
        first.close()
    _spool.SpoolFile(spool_path).close()  # free again once closed


def rows(count: int) -> list[_spool.Row]:
    return [_spool.Row(seq, body(seq), 40) for seq in range(1, count + 1)]


def failure(status: int, field: str | None = None, retry_after: str | None = None) -> errors.APIError:
    headers = {"retry-after": retry_after} if retry_after else {}
    message = {"error": {"message": "x", **({"field": field} if field else {})}}
    return _core.error_for(_core.Answer(status, headers, json.dumps(message).encode()),
                           errors.InvalidEvent)


UNREACHABLE = errors.Unreachable("ConnectError", request_sent=False)


@pytest.mark.parametrize("sent, outcome, delivered, rejected, wait, one_by_one", [
    (3, [Emitted("evt_1", 1)] * 3, [1, 2, 3], [], None, False),
    (3, UNREACHABLE, [], [], 0.25, False),
    (3, failure(429, retry_after="7"), [], [], 7.0, False),
    (3, failure(503), [], [], 0.25, False),
    (3, failure(500), [], [], 0.25, False),
    (3, failure(401), [], [], 0.25, False),  # a wrong key: keep everything, wait
    (3, failure(422, "events[1].type"), [], [2], None, False),
    (3, failure(409, "events[2].idempotency_key"), [], [3], None, False),
    (3, failure(403, "events[0].tenant"), [], [1], None, False),
    (3, failure(413, "events[0].data"), [], [1], None, False),
    (3, failure(413, "events"), [], [], None, True),  # the batch as a whole: find the culprit
    (3, failure(400), [], [], None, True),
    (1, failure(422, "type"), [], [1], None, False),
    (1, failure(400), [], [1], None, False),
])
def test_the_sending_rule(sent, outcome, delivered, rejected, wait, one_by_one):
    decided = _sending.verdict(rows(sent), outcome, failures=1, random=0.0)
    assert [r.seq for r in decided.delivered] == delivered
    assert [r.seq for r, _ in decided.rejected] == rejected
    assert (decided.wait, decided.one_by_one) == (wait, one_by_one)


def test_pace_backs_off_and_sends_one_by_one_after_a_refused_batch():
    pace = _sending.Pace()
    waits = [pace.after(rows(2), UNREACHABLE, 0.0).wait for _ in range(8)]
    assert waits == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]  # half of 30 s at random() == 0: capped, never giving up
    assert pace.batch_size() == _core.MAX_BATCH_EVENTS
    pace.after(rows(3), failure(400), 0.0)
    assert (pace.batch_size(), pace.failures) == (1, 0)
    pace.after(rows(1), [Emitted("evt_1", 0)], 0.0)
    pace.after(rows(1), failure(422, "type"), 0.0)
    assert pace.batch_size() == 1
    pace.after(rows(1), [Emitted("evt_2", 0)], 0.0)
    assert pace.batch_size() == _core.MAX_BATCH_EVENTS


def test_a_spooled_client_delivers_after_a_restart_and_sets_refusals_aside(hookline, receiver, spool_path,
                                                                           settings, clock):
    client = Hookline(hookline.url, ADMIN_KEY, spool=str(spool_path))  # Hookline is down
    first = client.emit("order.created", {"n": 1})
    spooled = client.emit_many([{"type": "order.shipped", "data": {}}, {"type": "order.paid", "data": {"n": 2}}])
    assert isinstance(first, Spooled) and [type(s) for s in spooled] == [Spooled, Spooled]
    assert client.pending == 3 and not client.flush(timeout=0.01)
    client.close(timeout=0)

    make_webhook(settings, clock, receiver.url())
    hookline.start()
    with Hookline(hookline.url, ADMIN_KEY, spool=str(spool_path)) as client:
        assert client.pending == 3
        assert client.flush(timeout=30)
        assert (client.pending, client.rejected, client.oldest_age) == (0, 1, None)
    received = receiver.wait_for(2)
    assert sorted(json.loads(r.body)["data"]["n"] for r in received) == [1, 2]
    with sqlite3.connect(spool_path) as db:
        ((key, status, field, message),) = db.execute("SELECT json_extract(body, '$.idempotency_key'), status, field, "
                                                      "message FROM rejected").fetchall()
    db.close()
    assert (key, status, field) == (spooled[0].idempotency_key, 422, "events[1].type")
    assert "unknown event type 'order.shipped'" in message


@pytest.mark.anyio
async def test_an_async_spooled_client_delivers_its_backlog(hookline, receiver, spool_path):
    hookline.start()
    async with AsyncHookline(hookline.url, ADMIN_KEY) as direct:
        await direct.webhooks.create(receiver.url())
    async with AsyncHookline(hookline.url, ADMIN_KEY, spool=str(spool_path)) as client:
        spooled = await client.emit_many([{"type": "order.created", "data": {"n": n}} for n in range(50)])
        assert await client.flush(timeout=30)
        assert client.pending == 0
    received = receiver.wait_for(50)
    keys = [s.idempotency_key for s in spooled]
    assert len(set(keys)) == 50
    assert sorted(json.loads(r.body)["data"]["n"] for r in received) == list(range(50))


def test_a_spool_that_cannot_be_written_says_so_and_counts_nothing(spool_path):
    spool = _spool.SpoolFile(spool_path)
    try:
        spool.append([body(0)]).result()
        with sqlite3.connect(spool_path) as other:  # inserts fail from now on, as on a full disk
            other.execute("CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        other.close()
        with pytest.raises(errors.SpoolError, match=f"could not write to the spool {spool_path}: disk full"):
            spool.append([body(1), body(2)]).result()
        assert spool.pending == 1
    finally:
        spool.close()
