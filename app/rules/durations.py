"""Durations as people write them ("500ms", "5s", "5m", "2h", "1d") and as pages show them.

One module for the settings (app/config.py), a webhook's timeout and retry schedule
(app/services/webhooks.py) and the dashboard (a retry schedule in the form, how long
retention keeps deliveries), so a delay is read and shown back one way everywhere.
"""

from __future__ import annotations

import math
import re

_WRITTEN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, None: 1}
# The units a duration is shown in, largest first: (as written, in words, seconds).
_SHOWN_UNITS = (("d", "day", 86400), ("h", "hour", 3600), ("m", "minute", 60))


def parse(value: object) -> float:
    """Seconds from a number or a string such as "500ms", "5s", "5m", "2h", "1d"; a
    ValueError says what is wrong, for the caller to prefix with the setting or field."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _WRITTEN.match(value) if isinstance(value, str) else None
        if not match:
            raise ValueError(f"{value!r} is not a duration (examples: 30, \"5s\", \"5m\", \"2h\")")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("must be a finite, non-negative duration")
    return seconds


def _whole_unit(seconds: float) -> tuple[str, str, int] | None:
    """The largest shown unit that `seconds` is a whole number of; None below a minute."""
    return next((unit for unit in _SHOWN_UNITS if seconds >= unit[2] and seconds % unit[2] == 0), None)


def as_written(seconds: float) -> str:
    """5 -> "5s", 300 -> "5m", 7200 -> "2h": how people write retry delays, and what
    `parse` reads back to the same number."""
    unit = _whole_unit(seconds)
    return f"{int(seconds // unit[2])}{unit[0]}" if unit else f"{seconds:g}s"


def in_words(seconds: float) -> str:
    """"30 days", "36 hours", "90 minutes", "45 seconds": the largest whole unit."""
    _, word, size = _whole_unit(seconds) or ("s", "second", 1)
    amount = round(seconds / size)
    return f"{amount} {word}{'' if amount == 1 else 's'}"
