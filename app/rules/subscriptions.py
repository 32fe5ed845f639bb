"""Which webhooks an event type goes to, pure.

A subscription is an exact type (`order.created`), a family (`order.*`, which also covers
`order.item.added`) or `*` for everything the tenant's apps emit.

Operational events, which Hookline itself sends about webhooks and deliveries, are not in
`*`: a webhook made with the default subscription would otherwise start getting a
`delivery.exhausted` for every failed delivery after an upgrade. A webhook gets them by
naming them (`webhook.disabled`) or their family (`webhook.*`, `delivery.*`).
"""

from __future__ import annotations

import re

EVENT_TYPE_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
ALL = "*"
OPERATIONAL_TYPES = frozenset({
    "delivery.exhausted", "webhook.failing", "webhook.disabled", "webhook.recovered", "webhook.secret_rotated",
})


def is_valid_type_name(name: str) -> bool:
    return len(name) <= 128 and bool(EVENT_TYPE_NAME.fullmatch(name))


def is_wildcard(pattern: str) -> bool:
    return pattern == ALL or pattern.endswith(".*")


def is_valid_pattern(pattern: str) -> bool:
    if pattern == ALL:
        return True
    return is_valid_type_name(pattern.removesuffix(".*"))


def is_operational(pattern: str) -> bool:
    """An operational type, or a family with one in it: what `*` does not cover."""
    if pattern.endswith(".*"):
        return any(name.startswith(pattern[:-1]) for name in OPERATIONAL_TYPES)
    return pattern in OPERATIONAL_TYPES


def matches(patterns: list[str], event_type: str) -> bool:
    for pattern in patterns:
        if pattern == event_type or (pattern == ALL and event_type not in OPERATIONAL_TYPES):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False
