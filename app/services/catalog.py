"""The event-type catalog: what apps may emit and webhooks may subscribe to."""

from __future__ import annotations

from datetime import datetime

import peewee

from app.config import EventTypeSeed
from app.rules import jsontext
from app.rules.errors import Conflict, InvalidInput, NotFound, reject_unknown
from app.rules.subscriptions import is_valid_type_name
from app.storage import hotsql
from app.storage.db import write_transaction
from app.storage.models import EventType

TEST_EVENT_TYPE = "webhook.test"
DISABLED_EVENT_TYPE = "webhook.disabled"
EXHAUSTED_EVENT_TYPE = "delivery.exhausted"
FAILING_EVENT_TYPE = "webhook.failing"
RECOVERED_EVENT_TYPE = "webhook.recovered"
SECRET_ROTATED_EVENT_TYPE = "webhook.secret_rotated"
_WEBHOOK = {"id": "wh_01M846PXSBJ5W7RMJEFKESKNTE", "name": "Billing service", "url": "https://billing.example.com/hooks"}
_OPERATIONAL = " Operational: only webhooks that name it or its family (`webhook.*`, `delivery.*`) get it, never `*`."
BUILT_IN = (
    EventTypeSeed(TEST_EVENT_TYPE, "Sent by the Send test action to check an endpoint.", {"message": "Hello from Hookline"}),
    EventTypeSeed(
        DISABLED_EVENT_TYPE,
        "Hookline switched off one of your webhooks because its endpoint kept failing (or answered 410 Gone);"
        " sent to your other webhooks that subscribe to it." + _OPERATIONAL,
        {
            **_WEBHOOK,
            "reason": "5 deliveries in a row failed and nothing succeeded since 2026-11-20 10:00 UTC;"
                      " last error: connection refused",
            "consecutive_failures": 5,
            "disabled_at": "2026-11-21T10:00:00.000000Z",
        },
    ),
    EventTypeSeed(
        EXHAUSTED_EVENT_TYPE,
        "A delivery ended failed: its last attempt was made, or the endpoint refused it for good." + _OPERATIONAL,
        {
            "id": "dlv_01M846Q2Z0A1B2C3D4E5F6G7H8",
            "webhook_id": _WEBHOOK["id"],
            "webhook_name": _WEBHOOK["name"],
            "event_id": "evt_01M846PZ9Y8X7W6V5T4S3R2Q1P",
            "event_type": "order.created",
            "attempts": 8,
            "last_error": "HTTP 503",
            "failed_at": "2026-11-21T09:58:00.000000Z",
        },
    ),
    EventTypeSeed(
        FAILING_EVENT_TYPE,
        "A webhook keeps failing: the streak its auto-disable rule counts (failed deliveries, or failed"
        " attempts under the attempts rule) reached 50 %, 70 % or 90 % of the threshold that switches it off."
        + _OPERATIONAL,
        {
            **_WEBHOOK,
            "failures": 7,
            "threshold": 10,
            "rule": "deliveries",
            "percent": 70,
            "failing_since": "2026-11-20T10:02:00.000000Z",
            "last_error": "connection refused",
        },
    ),
    EventTypeSeed(
        RECOVERED_EVENT_TYPE,
        "A delivery succeeded after a webhook's deliveries had failed." + _OPERATIONAL,
        {**_WEBHOOK, "failures": 3, "failing_since": "2026-11-20T10:02:00.000000Z",
         "recovered_at": "2026-11-20T11:30:00.000000Z"},
    ),
    EventTypeSeed(
        SECRET_ROTATED_EVENT_TYPE,
        "A webhook's signing secret was rotated; the old one signs too until previous_secret_expires_at"
        " (null: it stopped at once). The secrets themselves are never sent." + _OPERATIONAL,
        {**_WEBHOOK, "rotated_at": "2026-11-21T08:00:00.000000Z",
         "previous_secret_expires_at": "2026-11-22T08:00:00.000000Z"},
    ),
)

def seed_event_types(seeds: tuple[EventTypeSeed, ...], now: datetime) -> None:
    """Add the configured types that are missing; never overwrite edits made since."""
    with write_transaction():
        existing = {name for (name,) in EventType.select(EventType.name).tuples()}
        for seed in BUILT_IN + seeds:
            if seed.name not in existing:
                if not is_valid_type_name(seed.name):
                    raise InvalidInput("event_types.name", f"{seed.name!r} is not a valid event type name")
                # TOML has inf, nan and dates, none of them JSON
                _check_example(seed.example, "event_types.example", f" (the example of {seed.name!r})")
                EventType.create(name=seed.name, description=seed.description, example=seed.example, created_at=now)
                existing.add(seed.name)


def list_event_types(include_archived: bool = False) -> list[EventType]:
    """Active types only by default: that is what pickers offer and emitters may send."""
    return list(EventType.select().order_by(EventType.name) if include_archived else EventType.active())


def emittable_type(name: object, now: datetime, auto_register: bool, field: str = "type") -> str:
    """Check that `name` may be emitted, registering it first when the install allows that."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(field, "required: the event type, for example \"order.created\"")
    if not is_valid_type_name(name):
        raise InvalidInput(field, f"{name!r} is not a valid event type name (letters, digits, '_', '-', separated by dots)")
    rows = hotsql.select(_by_name, name)  # once per emitted batch: SQL rendered once
    event_type = rows[0] if rows else None
    if event_type is None:
        if not auto_register:
            raise InvalidInput(field, f"unknown event type {name!r}: add it to the catalog ([[event_types]] in config.toml) or set auto_register_event_types")
        try:
            with write_transaction():  # a savepoint: a lost race must not abort a shared transaction
                EventType.create(name=name, created_at=now)
        except peewee.IntegrityError:
            pass  # registered by a concurrent request
    elif event_type.archived_at is not None:
        raise InvalidInput(field, f"event type {name!r} is archived and cannot be emitted")
    return name


def _by_name(name: str):
    return EventType.select().where(EventType.name == name)


MAX_DESCRIPTION_LENGTH = 2000
EDITABLE = {"description", "example", "archived"}


def get_event_type(name: str) -> EventType:
    event_type = EventType.get_or_none(EventType.name == name)
    if event_type is None:
        raise NotFound(f"no event type {name!r}")
    return event_type


def create_event_type(fields: dict, now: datetime) -> EventType:
    reject_unknown(fields, {"name", "description", "example"})
    name = fields.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput("name", "required: the event type, for example \"order.created\"")
    if not is_valid_type_name(name):
        raise InvalidInput("name", f"{name!r} is not a valid event type name (letters, digits, '_', '-', separated by dots)")
    values = _changes(name, fields, now)
    try:
        with write_transaction():
            return EventType.create(name=name, created_at=now, **values)
    except peewee.IntegrityError:
        raise Conflict(f"event type {name!r} already exists", "name") from None


def update_event_type(name: str, fields: dict, now: datetime) -> EventType:
    """Description, example and archived may change; the name may not, since events and
    subscriptions refer to it."""
    if "name" in fields and fields["name"] != name:
        raise InvalidInput("name", "cannot be changed once the type exists; create a new type and archive this one")
    reject_unknown(fields, EDITABLE | {"name"})
    event_type = get_event_type(name)
    values = _changes(name, fields, now)
    if event_type.archived_at is not None and values.get("archived_at"):
        values["archived_at"] = event_type.archived_at  # archived again: keep since when
    if values:
        with write_transaction():
            EventType.update(values).where(EventType.name == name).execute()
    return get_event_type(event_type.name)


def _changes(name: str, fields: dict, now: datetime) -> dict:
    values = {}
    if "description" in fields:
        description = fields["description"]
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH:
            raise InvalidInput("description", f"must be text of at most {MAX_DESCRIPTION_LENGTH} characters")
        values["description"] = description.strip()
    if "example" in fields:
        _check_example(fields["example"], "example")
        values["example"] = fields["example"]  # any JSON value; null removes it
    if "archived" in fields:
        archived = fields["archived"]
        if not isinstance(archived, bool):
            raise InvalidInput("archived", "must be true or false")
        if archived and name in {seed.name for seed in BUILT_IN}:
            raise InvalidInput("archived", f"{name!r} is built in: Hookline itself sends it, so it cannot be archived")
        values["archived_at"] = now if archived else None
    return values


def _check_example(example: object, field: str, which: str = "") -> None:
    """Strict JSON, as events are: an example is shown to every tenant and checks templates."""
    try:
        jsontext.check(example)
    except jsontext.JSONTextError as exc:
        raise InvalidInput(exc.field(field), exc.reason + which) from None
