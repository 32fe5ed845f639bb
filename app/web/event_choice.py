"""The create/edit form's "Events to send": an explicit choice, then the boxes it needs.

A single "All events" checkbox above the list used to be ticked by default and switched the
other boxes off, so a click on `order.created` did nothing and nothing said why. The form
now asks first: "All events" (`*`, which also covers types added later) or "Select events"
(the ticked boxes). Hookline's own operational events are outside `*`
(app/rules/subscriptions.py), so their boxes stay tickable under both answers.

Everything here is pure: the page hands in the form's values and the catalog, and gets the
patterns the webhooks service takes, or the answer and ticks to show again. The API is not
involved: it takes `events` as a list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.rules.errors import InvalidInput
from app.rules.subscriptions import ALL as ALL_PATTERN
from app.rules.subscriptions import is_operational

ALL = "all"
SELECTED = "selected"
CHOICES = (ALL, SELECTED)
# Shown as "Events: tick at least one …" next to the list: the service's own message for an
# empty list speaks the API's language ([\"order.created\"]), not the form's.
NOTHING_TICKED = "tick at least one event type, or choose All events"


class EventType(Protocol):
    name: str
    description: str


@dataclass(frozen=True)
class EventGroup:
    """One family's boxes in one part of the form. `pattern` (`order.*`) is None when the
    family's wildcard belongs to the other part: a tenant's `webhook.created` sits in the
    list, while `webhook.*` also brings operational events and sits with them."""

    family: str
    pattern: str | None
    types: tuple[EventType, ...]


def subscription(choice: str | None, ticked: Sequence[str]) -> list[str]:
    """The patterns a posted form asks for.

    "all" is `*` plus the ticked operational boxes, since `*` does not cover them; the other
    ticks are dropped, as they are already in `*` (without JavaScript they stay tickable, so
    a user may have ticked some before choosing All). "selected" is exactly the ticked boxes,
    and none at all is a mistake to point out next to the list. A form with no choice (a
    page opened before the choice existed, a script) means what its boxes say: `*` among
    them is "all".
    """
    if choice is None:
        choice = choice_of(ticked)
    if choice not in CHOICES:
        raise InvalidInput("events", "choose All events or Select events")
    if choice == ALL:
        return [ALL_PATTERN, *(pattern for pattern in ticked if is_operational(pattern))]
    if not ticked:
        raise InvalidInput("events", NOTHING_TICKED)
    return list(ticked)


def choice_of(patterns: Iterable[str]) -> str:
    """The answer that shows a stored subscription: `*` in it is "all", anything else is
    the boxes it names (an edit of `["order.created"]` opens on "Select events")."""
    return ALL if ALL_PATTERN in patterns else SELECTED


def shown_choice(choice: str | None, ticked: Sequence[str]) -> str:
    """The answer to show again with a form that came back with an error: the one sent,
    or, when it is missing or not one of ours, what the boxes say."""
    return choice if choice in CHOICES else choice_of(ticked)


def event_groups(event_types: Iterable[EventType]) -> tuple[list[EventGroup], list[EventGroup]]:
    """The catalog as the form's two parts, each grouped by family (`order` for
    `order.created`) in name order: the types "Select events" lists, and Hookline's
    operational ones, which are shown under both answers."""
    families: dict[str, list[EventType]] = {}
    for event_type in event_types:
        families.setdefault(event_type.name.split(".", 1)[0], []).append(event_type)
    listed: list[EventGroup] = []
    operational: list[EventGroup] = []
    for family, types in sorted(families.items()):
        pattern = family + ".*"
        for part, wanted in ((listed, False), (operational, True)):
            members = tuple(t for t in types if is_operational(t.name) == wanted)
            own_pattern = pattern if is_operational(pattern) == wanted else None
            if members or own_pattern:
                part.append(EventGroup(family, own_pattern, members))
    return listed, operational
