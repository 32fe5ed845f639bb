"""Time as a dependency: services take a `Clock` so tests can move time instead of sleeping."""

from datetime import datetime, timezone
from typing import Callable

from app.rules.errors import InvalidInput

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


def parse_instant(value: object, field: str) -> datetime:
    """An ISO 8601 time from a request, read as UTC when it names no offset (the dashboard's
    forms say UTC); InvalidInput naming `field` otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, "required: an ISO 8601 time such as \"2026-01-31T09:00:00Z\"")
    try:
        instant = datetime.fromisoformat(value.strip())
        # an offset can push the first or last representable day out of range
        return instant.replace(tzinfo=timezone.utc) if instant.tzinfo is None else instant.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise InvalidInput(field, f"{value!r} is not an ISO 8601 time such as \"2026-01-31T09:00:00Z\"") from None
