"""Crontab expressions as APScheduler triggers, with crontab's weekday numbers.

APScheduler 3 counts weekdays from Monday (0 = Monday) even in `CronTrigger.from_crontab`,
so `0 3 * * 1` would run on Tuesdays (agronholm/apscheduler#286, fixed only in 4.0).
Numeric weekdays are therefore rewritten as names first: 0 and 7 are Sunday, as in cron.
"""

from __future__ import annotations

import re
from datetime import timezone

from apscheduler.triggers.cron import CronTrigger

CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMERIC_PART = re.compile(r"^(\*|\d+(?:-\d+)?)(?:/(\d+))?$")


def crontab_trigger(expression: str) -> CronTrigger:
    """A UTC trigger for a five-field crontab line; ValueError says what is wrong."""
    fields = expression.split()
    if len(fields) == 5:
        fields[4] = weekday_names(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=timezone.utc)


def weekday_names(field: str) -> str:
    """`1-5` -> `mon,tue,wed,thu,fri`; parts that are already names stay as they are."""
    parts = []
    for part in field.split(","):
        match = _NUMERIC_PART.match(part)
        if not match or match.group(1) == "*" and not match.group(2):
            parts.append(part)
            continue
        span, step = match.group(1), int(match.group(2) or 1)
        first, _, last = span.partition("-")
        start, end = (0, 6) if span == "*" else (int(first), int(last or (7 if match.group(2) else first)))
        if not 0 <= start <= end <= 7 or step < 1:
            raise ValueError(f"weekday {part!r} is out of range (0-7, 0 and 7 are Sunday)")
        parts.extend(dict.fromkeys(CRON_WEEKDAYS[day % 7] for day in range(start, end + 1, step)))
    return ",".join(dict.fromkeys(parts))
