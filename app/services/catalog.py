"""The event-type catalog: what apps may emit and webhooks may subscribe to."""

from __future__ import annotations

from datetime import datetime

import peewee

from app.config import EventTypeSeed
from app.errors import InvalidInput
from app.models import EventType
from app.subscriptions import is_valid_type_name

TEST_EVENT_TYPE = "webhook.test"
DISABLED_EVENT_TYPE = "webhook.disabled"
BUILT_IN = (
    EventTypeSeed(TEST_EVENT_TYPE, "Sent by the Send test action to check an endpoint.", {"message": "Hello from Hookline"}),
    EventTypeSeed(
        DISABLED_EVENT_TYPE,
        "Hookline switched off one of your webhooks because its endpoint kept failing (or answered 410 Gone);"
        " sent to your other webhooks that subscribe to it.",
        {
            "id": "wh_01M846PXSBJ5W7RMJEFKESKNTE",
            "name": "Billing service",
            "url": "https://billing.example.com/hooks",
            "reason": "5 deliveries in a row failed and nothing succeeded since 2026-11-20 10:00 UTC;"
                      " last error: connection refused",
            "consecutive_failures": 5,
            "disabled_at": "2026-11-21T10:00:00.000000Z",
        },
    ),
)


def seed_event_types(seeds: tuple[EventTypeSeed, ...], now: datetime) -> None:
    """Add the configured types that are missing; never overwrite edits made since."""
    existing = {name for (name,) in EventType.select(EventType.name).tuples()}
    for seed in BUILT_IN + seeds:
        if seed.name not in existing:
            if not is_valid_type_name(seed.name):
                raise InvalidInput("event_types.name", f"{seed.name!r} is not a valid event type name")
            EventType.create(name=seed.name, description=seed.description, example=seed.example, created_at=now)
            existing.add(seed.name)


def list_event_types() -> list[EventType]:
    return list(EventType.active())


def emittable_type(name: object, now: datetime, auto_register: bool, field: str = "type") -> str:
    """Check that `name` may be emitted, registering it first when the install allows that."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(field, "required: the event type, for example \"order.created\"")
    if not is_valid_type_name(name):
        raise InvalidInput(field, f"{name!r} is not a valid event type name (letters, digits, '_', '-', separated by dots)")
    event_type = EventType.get_or_none(EventType.name == name)
    if event_type is None:
        if not auto_register:
            raise InvalidInput(field, f"unknown event type {name!r}: add it to the catalog ([[event_types]] in config.toml) or set auto_register_event_types")
        try:
            EventType.create(name=name, created_at=now)
        except peewee.IntegrityError:
            pass  # registered by a concurrent request
    elif event_type.archived_at is not None:
        raise InvalidInput(field, f"event type {name!r} is archived and cannot be emitted")
    return name
