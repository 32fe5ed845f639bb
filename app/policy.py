"""Retry policy, pure: what an attempt's result means and when to try again.

Clock readings and randomness come in as arguments, so the whole schedule is tested
with plain values and no sleeping.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Callable


class Outcome(enum.Enum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"  # network error, timeout, 408, 429, 5xx
    FAILED = "failed"  # the receiver refused it: retrying will not help
    GONE = "gone"  # 410: the receiver asked us to stop; the webhook gets disabled


RETRYABLE_STATUS = {408, 429}


def classify(status_code: int | None) -> Outcome:
    """`None` means no HTTP response at all (connection error, timeout)."""
    if status_code is None or status_code >= 500 or status_code in RETRYABLE_STATUS:
        return Outcome.RETRY
    if 200 <= status_code < 300:
        return Outcome.SUCCEEDED
    if status_code == 410:
        return Outcome.GONE
    return Outcome.FAILED  # other 4xx, and 1xx/3xx: redirects are never followed


@dataclass(frozen=True)
class RetryPolicy:
    """`schedule[n]` is the wait before attempt n+1; its length is the number of attempts."""

    schedule: tuple[float, ...]
    jitter: float = 0.1
    retry_after_cap: float = 3600

    def next_attempt_at(
        self,
        attempts_made: int,
        now: datetime,
        random: Callable[[], float],
        retry_after: float | None = None,
    ) -> datetime | None:
        """When to try again after `attempts_made` attempts, or None when they are used up.

        The scheduled wait gets ±jitter so that a receiver that came back is not hit by every
        queued retry in the same second. A `Retry-After` longer than the schedule is honoured,
        up to the cap, so one receiver cannot park a delivery for days.
        """
        if attempts_made >= len(self.schedule):
            return None
        delay = self.schedule[attempts_made] * (1 + self.jitter * (2 * random() - 1))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_after_cap))
        return now + timedelta(seconds=delay)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
