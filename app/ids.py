"""Public identifiers: a type prefix plus a ULID, so ids sort by creation time.

`evt_01JD…` tells a reader what kind of object an id names, and time-sortable ids keep
index inserts append-only on both SQLite and PostgreSQL.
"""

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now_ms: int | None = None) -> str:
    """48 bits of milliseconds then 80 random bits, in 26 Crockford base32 characters."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_id(prefix: str) -> str:
    return f"{prefix}_{ulid()}"
