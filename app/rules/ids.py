"""Public identifiers: a type prefix plus a ULID, so ids sort by creation time.

`evt_01JD…` tells a reader what kind of object an id names, and time-sortable ids keep
index inserts append-only on both SQLite and PostgreSQL.

Ids of one process strictly increase, also within one millisecond (ULID's monotonic mode:
the random part of the previous id plus one) and when the system clock steps back (the
newest millisecond seen so far is kept). With 80 random bits an increment never
overflows in practice; if it did, the next millisecond is borrowed. Ids made by two
processes in the same millisecond still sort in no particular order, so a list that pages
with a cursor sorts by (created_at, id) and its cursor holds both.
"""

import os
import threading
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80


def ulid(now_ms: int | None = None) -> str:
    """48 bits of milliseconds then 80 random bits, in 26 Crockford base32 characters."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return _encode((ms << _RANDOM_BITS) | int.from_bytes(os.urandom(10), "big"))


def _encode(value: int) -> str:
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


class MonotonicUlids:
    """ULIDs that strictly increase in the order they are made, from any thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._last = 0

    def next(self, now_ms: int) -> str:
        fresh = (now_ms << _RANDOM_BITS) | int.from_bytes(os.urandom(10), "big")
        with self._lock:
            if fresh >> _RANDOM_BITS <= self._last >> _RANDOM_BITS:
                fresh = self._last + 1  # same (or an earlier) millisecond: one more than the last
            self._last = fresh
        return _encode(fresh)


_ulids = MonotonicUlids()


def new_id(prefix: str) -> str:
    return f"{prefix}_{_ulids.next(int(time.time() * 1000))}"
