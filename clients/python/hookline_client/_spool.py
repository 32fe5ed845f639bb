"""The durable spool: emits go to a local SQLite file first and are sent from there.

An app that emits while Hookline is down, or dies before Hookline answered, loses nothing:
an emit returns once its event is committed to the file, and a sender (a thread, or a
task for the async client) takes the oldest events, sends them with the idempotency key
they were spooled with, and deletes them only when Hookline has answered that it stored
them. Killed between Hookline's commit and that delete, the app sends them again when it
restarts, and Hookline recognises the keys and answers with the same events (`replayed`):
nothing arrives twice, within the server's `idempotency_ttl` (24 h by default, which is
why `max_age` defaults to it).

One thread owns the file. Whatever callers queued while it committed the last group is
written as the next transaction, so a burst of emits from many threads costs one fsync,
not one each (`synchronous=FULL` in WAL mode: a commit survives a crash of the machine,
not only of the process). The file is locked (flock on `<path>.lock`) for as long as a
client has it open: two senders of one spool would send its events out of order.

What the sender does with Hookline's answer is decided in _sending.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from hookline_client import _core, errors

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    rejected_at REAL NOT NULL,
    status INTEGER NOT NULL,
    message TEXT NOT NULL,
    field TEXT
);
"""


@dataclass(frozen=True)
class SpoolLimits:
    """When emits are refused with SpoolFull: more than `max_events` waiting, more than
    `max_bytes` of their JSON, or the oldest waiting longer than `max_age` seconds (past the
    server's idempotency window a lost answer could no longer be told from a new event)."""

    max_events: int = 100_000
    max_bytes: int = 256 * 1024 * 1024
    max_age: float = 24 * 3600


@dataclass(frozen=True)
class Row:
    seq: int
    body: dict[str, Any]
    size: int


@dataclass
class _Op:
    kind: str  # append, settle, take, stop
    args: tuple[Any, ...] = ()
    future: Future[Any] = field(default_factory=Future)


class SpoolFile:
    """The spool's SQLite file and the one thread that reads and writes it. Every method
    returns a concurrent Future (the sync client waits on it, the async one awaits it)."""

    def __init__(self, path: str | os.PathLike[str], limits: SpoolLimits = SpoolLimits(),
                 clock: Callable[[], float] = time.time):
        self.path = os.fspath(path)
        self.limits = limits
        self._clock = clock
        self._lock_file = open(self.path + ".lock", "a")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise errors.SpoolLocked(f"{self.path} is open in another client; a spool has one sender") from None
        self._ops: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._state = threading.Condition()
        self._pending = self._bytes = self._rejected = 0
        self._oldest: float | None = None
        self._closed = False
        opened: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(opened,), name="hookline-spool", daemon=True)
        self._thread.start()
        try:
            opened.result()
        except BaseException:
            self._thread.join()
            self._lock_file.close()
            raise

    # Read by the app: how far behind the spool is.

    @property
    def pending(self) -> int:
        """Events in the spool that Hookline has not yet confirmed."""
        with self._state:
            return self._pending

    @property
    def pending_bytes(self) -> int:
        with self._state:
            return self._bytes

    @property
    def oldest_age(self) -> float | None:
        """Seconds the oldest unconfirmed event has waited; None when the spool is empty."""
        with self._state:
            return None if self._oldest is None else max(0.0, self._clock() - self._oldest)

    @property
    def rejected(self) -> int:
        """Events Hookline refused for good (422, 409, 413...), kept in the `rejected`
        table of the file with the server's message, never sent again."""
        with self._state:
            return self._rejected

    # Called by the client.

    def append(self, bodies: list[dict[str, Any]]) -> Future[None]:
        """Spool `bodies` (emit bodies with their idempotency keys), in one transaction;
        the future is done when they are committed. Raises SpoolFull at once, writing
        nothing, when they do not fit the limits."""
        texts = [json.dumps(b, ensure_ascii=False, separators=(",", ":"), allow_nan=False) for b in bodies]
        size = sum(len(t.encode("utf-8")) for t in texts)
        now = self._clock()
        with self._state:
            if self._closed:
                raise errors.Closed("the client is closed")
            self._check_room(len(texts), size, now)
            self._pending += len(texts)
            self._bytes += size
            if self._oldest is None:
                self._oldest = now
        op = _Op("append", (texts, size, now))
        self._ops.put(op)
        return op.future

    def _check_room(self, count: int, size: int, now: float) -> None:
        limits = self.limits
        if self._oldest is not None and now - self._oldest > limits.max_age:
            raise errors.SpoolFull(
                f"the oldest spooled event has waited {now - self._oldest:.0f} s, more than max_age "
                f"({limits.max_age:g} s): Hookline has been unreachable too long; {self._pending} events wait")
        if self._pending + count > limits.max_events:
            raise errors.SpoolFull(f"the spool holds {self._pending} events, at most {limits.max_events} may wait")
        if self._bytes + size > limits.max_bytes:
            raise errors.SpoolFull(f"the spool holds {self._bytes} bytes of events, at most {limits.max_bytes} may wait")

    def take(self, max_events: int) -> Future[list[Row]]:
        """The oldest events, at most `max_events` and what one batch request may carry."""
        op = _Op("take", (max_events,))
        self._ops.put(op)
        return op.future

    def settle(self, delivered: list[Row], rejected: list[tuple[Row, errors.APIError]]) -> Future[None]:
        """Delete what Hookline stored; move what it refused to `rejected`."""
        op = _Op("settle", (delivered, rejected))
        self._ops.put(op)
        return op.future

    def wait_empty(self, timeout: float) -> bool:
        """Block until every spooled event is confirmed, or `timeout` passes (then False)."""
        with self._state:
            return self._state.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        with self._state:
            if self._closed:
                return
            self._closed = True
        op = _Op("stop")
        self._ops.put(op)
        op.future.result()
        self._thread.join()
        self._lock_file.close()

    # The spool's thread.

    def _run(self, opened: Future[None]) -> None:
        try:
            connection = self._open()
        except BaseException as exc:
            opened.set_exception(exc)
            return
        opened.set_result(None)
        try:
            while True:
                ops = [self._ops.get()]
                while True:
                    try:
                        ops.append(self._ops.get_nowait())
                    except queue.Empty:
                        break
                self._write(connection, [op for op in ops if op.kind in ("append", "settle")])
                for op in ops:
                    if op.kind == "take":
                        _resolve(op, self._take, connection, *op.args)
                if any(op.kind == "stop" for op in ops):
                    for op in ops:
                        if op.kind == "stop":
                            op.future.set_result(None)
                    return
        finally:
            connection.close()

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.executescript(SCHEMA)
            pending, size, oldest = connection.execute(
                "SELECT count(*), coalesce(sum(length(CAST(body AS BLOB))), 0), min(created_at) FROM events"
            ).fetchone()
            (rejected,) = connection.execute("SELECT count(*) FROM rejected").fetchone()
        except BaseException:
            connection.close()
            raise
        self._pending, self._bytes, self._oldest, self._rejected = pending, size, oldest, rejected
        return connection

    def _write(self, connection: sqlite3.Connection, ops: list[_Op]) -> None:
        """Every queued write in one transaction: one fsync for the whole group."""
        if not ops:
            return
        try:
            connection.execute("BEGIN IMMEDIATE")
            for op in ops:
                if op.kind == "append":
                    texts, _, now = op.args
                    connection.executemany("INSERT INTO events (body, created_at) VALUES (?, ?)",
                                           [(text, now) for text in texts])
                else:
                    self._settle(connection, *op.args)
            connection.execute("COMMIT")
        except BaseException as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            failure = errors.SpoolError(f"could not write to the spool {self.path}: {exc}")
            failure.__cause__ = exc
            with self._state:  # what the appends reserved is free again
                for op in ops:
                    if op.kind == "append":
                        self._pending -= len(op.args[0])
                        self._bytes -= op.args[1]
                self._state.notify_all()
            for op in ops:
                op.future.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        # The first row by seq (the rowid: no scan) is the oldest.
        first = connection.execute("SELECT created_at FROM events ORDER BY seq LIMIT 1").fetchone()
        with self._state:
            for op in ops:
                if op.kind == "settle":
                    delivered, rejected = op.args
                    gone = delivered + [row for row, _ in rejected]
                    self._pending -= len(gone)
                    self._bytes -= sum(row.size for row in gone)
                    self._rejected += len(rejected)
            # Appends reserved but not yet written keep the age they were given when reserved.
            self._oldest = first[0] if first else (self._oldest if self._pending else None)
            self._state.notify_all()
        for op in ops:
            op.future.set_result(None)

    def _settle(self, connection: sqlite3.Connection, delivered: list[Row],
                rejected: list[tuple[Row, errors.APIError]]) -> None:
        connection.executemany("DELETE FROM events WHERE seq = ?", [(row.seq,) for row in delivered])
        now = self._clock()
        for row, error in rejected:
            connection.execute(
                "INSERT INTO rejected (seq, body, created_at, rejected_at, status, message, field) "
                "SELECT seq, body, created_at, ?, ?, ?, ? FROM events WHERE seq = ?",
                (now, error.status, error.message, error.field, row.seq),
            )
            connection.execute("DELETE FROM events WHERE seq = ?", (row.seq,))

    def _take(self, connection: sqlite3.Connection, max_events: int) -> list[Row]:
        found = connection.execute(
            "SELECT seq, body FROM events ORDER BY seq LIMIT ?", (max_events,)
        ).fetchall()
        rows = [Row(seq, json.loads(body), len(body.encode("utf-8"))) for seq, body in found]
        if not rows:
            return rows
        first = next(_core.batches([row.size for row in rows]))
        return rows[: len(first)]


def _resolve(op: _Op, function: Callable[..., Any], *args: Any) -> None:
    try:
        op.future.set_result(function(*args))
    except Exception as exc:
        op.future.set_exception(exc)


class SpoolCounters:
    """The spool's numbers as both clients show them: 0 and None without a spool."""

    _spool: SpoolFile | None

    @property
    def pending(self) -> int:
        """Spooled events Hookline has not confirmed yet (0 without a spool)."""
        return self._spool.pending if self._spool else 0

    @property
    def oldest_age(self) -> float | None:
        """Seconds the oldest of them has waited; None when there is none."""
        return self._spool.oldest_age if self._spool else None

    @property
    def rejected(self) -> int:
        """Spooled events Hookline refused for good (kept in the spool file's `rejected` table)."""
        return self._spool.rejected if self._spool else 0
