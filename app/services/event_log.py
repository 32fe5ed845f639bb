"""Reading the event log: GET /api/v1/events (one tenant's events, newest first) and one
event's fan-out (GET /api/v1/events/{id}/deliveries).

A page is what an index hands over in order: `event(tenant_id, type, created_at, id)` for
an exact type, `event(tenant_id, created_at, id)` otherwise (migration `event_log_indexes`); the
time range and the cursor bound the same index, so a page reads about `limit` rows however
deep it is and however many events the tenant has (bench/event_queries.py, docs/benchmarks.md).

A `where` condition (app/rules/filter_text.py) is evaluated here, in Python, over the rows
that index order yields, at most SCAN_CAP of them per request. Not pushed into SQL as
`json_extract`/`->>`: those give SQLite and PostgreSQL their own notion of equality (SQLite
reads `true` as 1, PostgreSQL's `->>` compares text), where a webhook filter's rules are
JSON's (app/rules/filters.py), and an expression over a JSON path has no index anyway, so
SQL would scan just as far, only without a bound. When the cap is reached first the page is
short (even empty) and its `next_cursor` continues the scan where it stopped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import peewee

from app.rules import jsontext
from app.rules.clock import parse_instant
from app.rules.errors import InvalidInput
from app.rules.filter_text import where_filter
from app.rules.filters import event_matches
from app.rules.subscriptions import ALL, is_valid_pattern
from app.services.log_positions import Page, Position
from app.services.replay import get_event
from app.storage.models import Delivery, Event, Tenant, Webhook, envelope_timestamp

MAX_PAGE_SIZE = 100
SCAN_CAP = 1000  # rows one request with a `where` reads at most (50-90 µs each: docs/benchmarks.md)
SCAN_BATCH = 200
EVENT_ID = re.compile(r"^evt_[0-9A-Z]{26}$")


@dataclass(frozen=True)
class EventQuery:
    """What a caller asks of the log, checked: see `event_query`."""

    type: str | None  # an exact type or a family such as `order.*`; None: every type
    since: datetime | None  # created at or after
    until: datetime | None  # created before
    where: dict | None  # a filter of app/rules/filters.py over the envelope
    limit: int = 50
    before: Position | None = None
    id: str | None = None  # this one event (the dashboard's search box); the primary key finds it


def event_query(type: str | None = None, since: str | None = None, until: str | None = None,
                where: list[str] | None = None, limit: object = 50, before: str | None = None,
                id: str | None = None) -> EventQuery:
    """The query parameters of GET /api/v1/events (and `id`, the dashboard's Events search),
    each refused by name when wrong."""
    if id is not None and not EVENT_ID.match(id):
        raise InvalidInput("id", "must be an event id: evt_ and 26 letters and digits, the webhook-id a receiver got")
    if type is not None and (not is_valid_pattern(type) or type == ALL):
        raise InvalidInput("type", "must be an event type such as order.created, or a family such as order.*")
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        raise InvalidInput("limit", "must be an integer") from None
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
    since_at = parse_instant(since, "since") if since is not None else None
    until_at = parse_instant(until, "until") if until is not None else None
    if since_at and until_at and until_at <= since_at:
        raise InvalidInput("until", "must be later than since")
    return EventQuery(type=type, since=since_at, until=until_at, where=where_filter(where or []), limit=limit,
                      before=Position.parse(before, "before", "evt") if before is not None else None, id=id)


def list_events(tenant: Tenant | None, query: EventQuery) -> Page:
    """One page of the tenant's events, newest first; `next_cursor` continues it."""
    if tenant is None:
        return Page([], None)
    if query.where is None:
        rows = list(in_log_order(tenant.id, query, query.before).limit(query.limit + 1))
        more = len(rows) > query.limit
        return Page(rows[:query.limit], Position.of(rows[query.limit - 1]).cursor if more else None)
    return _scan(tenant.id, query)


def in_log_order(tenant_id: int, query: EventQuery, after: Position | None):
    """The tenant's events that `query` selects and that come after `after`, newest first:
    what a page reads, without its limit (the bench prints its plan)."""
    rows = Event.select().where(Event.tenant == tenant_id)
    if query.id is not None:
        rows = rows.where(Event.id == query.id)
    if query.type is not None and query.type.endswith(".*"):
        family = query.type[:-1]  # `order.`: substr, not LIKE, whose case folding and wildcards differ by backend
        rows = rows.where(peewee.fn.SUBSTR(Event.type, 1, len(family)) == family)
    elif query.type is not None:
        rows = rows.where(Event.type == query.type)
    if query.since is not None:
        rows = rows.where(Event.created_at >= query.since)
    if query.until is not None:
        rows = rows.where(Event.created_at < query.until)
    if after is not None:
        rows = rows.where(after.older(Event))
    return rows.order_by(Event.created_at.desc(), Event.id.desc())


def _scan(tenant_id: int, query: EventQuery) -> Page:
    """The `where` page: matching rows in log order, reading at most SCAN_CAP rows. Rows
    are read as tuples and only matches become Events: building a model per row read
    was half the time of a scan."""
    found, scanned, position = [], 0, query.before
    while True:
        wanted = min(SCAN_BATCH, SCAN_CAP - scanned)
        batch = list(in_log_order(tenant_id, query, position).select(*_SCANNED).limit(wanted).tuples())
        for index, row in enumerate(batch):
            if event_matches(query.where, _envelope(*row)):
                found.append(Event(tenant=tenant_id, **dict(zip(_SCANNED_NAMES, row))))
                if len(found) == query.limit:
                    more = index < len(batch) - 1 or len(batch) == wanted
                    return Page(found, Position.of(found[-1]).cursor if more else None)
        scanned += len(batch)
        if len(batch) < wanted:
            return Page(found, None)
        position = Position(batch[-1][3], batch[-1][0])
        if scanned >= SCAN_CAP:
            return Page(found, position.cursor)


_SCANNED = (Event.id, Event.type, Event.data, Event.created_at)
_SCANNED_NAMES = ("id", "type", "data", "created_at")


def _envelope(event_id: str, type_name: str, data: str, created_at: datetime) -> dict:
    """The envelope a receiver would get, as filters see it; built, not parsed from
    `Event.envelope()`, whose bytes took five times as long to read back."""
    return {"id": event_id, "type": type_name, "timestamp": envelope_timestamp(created_at),
            "data": jsontext.loads_stored(data)}


def delivery_summary(events: list[Event]) -> dict[str, dict[str, int]]:
    """How the deliveries of a page of events stand, {event id: {status: count}}: one grouped
    read over the (event, webhook) index, so the list shows where each event went wrong."""
    if not events:
        return {}
    rows = (
        Delivery.select(Delivery.event, Delivery.status, peewee.fn.COUNT(Delivery.id))
        .where(Delivery.event.in_([e.id for e in events]))
        .group_by(Delivery.event, Delivery.status)
        .tuples()
    )
    summary: dict[str, dict[str, int]] = {}
    for event_id, status, count in rows:
        summary.setdefault(event_id, {})[status] = count
    return summary


@dataclass(frozen=True)
class FanOut:
    event: Event
    deliveries: list[Delivery]  # each with its webhook's id, name, url and deleted_at


def fan_out(event_id: str, tenant_id: int | None) -> FanOut:
    """Where one event went: its deliveries, oldest first, each with the webhook it is for
    (also a deleted one, whose deliveries stay in the log)."""
    event = get_event(event_id, tenant_id)
    rows = (
        Delivery.select(Delivery, Event, Webhook.id, Webhook.name, Webhook.url, Webhook.deleted_at)
        .join(Event).switch(Delivery).join(Webhook)
        .where(Delivery.event == event.id)
        .order_by(Delivery.created_at, Delivery.id)
    )
    return FanOut(event, list(rows))
