"""Where a row sits in a newest-first log, and the opaque cursor that names it.

The delivery log and the event log both sort newest first by (created_at, id), and a
cursor is that sort key itself: ids alone do not follow created_at (two processes make ids
in their own order, and a batch's rows share the `now` taken before its ids), so "ids below
the last one shown" skipped or repeated rows at page edges. A row inserted while someone
pages lands before the page they are on (it is newer), never inside the pages still to come.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import peewee

from app.rules.errors import InvalidInput

_CURSOR = re.compile(r"^(\d{1,17})-([a-z]{2,4}_[0-9A-Z]{26})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Position:
    """A row's sort key, and the cursor that names it."""

    created_at: datetime
    id: str

    @classmethod
    def of(cls, row: peewee.Model) -> Position:
        return cls(row.created_at, row.id)

    @property
    def cursor(self) -> str:
        """`<microseconds since 1970>-<row id>`: text that fits a URL and an HTML id."""
        return f"{(self.created_at - _EPOCH) // _MICROSECOND}-{self.id}"

    @classmethod
    def parse(cls, cursor: str, field: str, prefix: str = "dlv") -> Position:
        """`prefix`: the kind of id this log holds, so a delivery cursor is refused by the event log."""
        match = _CURSOR.match(cursor)
        if match is None or not match[2].startswith(prefix + "_"):
            raise InvalidInput(field, "is not a cursor of this log: use the next_cursor of the previous page")
        return cls(_EPOCH + int(match[1]) * _MICROSECOND, match[2])

    def older(self, model: type[peewee.Model]):
        """The rows of `model` after this one in the log. The first term is implied by the
        rest, and there for the planner: it bounds an index on created_at, so a deep page
        starts where the cursor is instead of walking every newer row first."""
        return (model.created_at <= self.created_at) & (
            (model.created_at < self.created_at) | (model.id < self.id))

    def this_or_newer(self, model: type[peewee.Model]):
        """This row of `model` and the ones before it in the log."""
        return (model.created_at > self.created_at) | ((model.created_at == self.created_at) & (model.id >= self.id))


@dataclass(frozen=True)
class Page:
    """One page of a log, and the cursor of the next one (None: this is the last)."""

    items: list
    next_cursor: str | None
