"""Delivery policy, pure: what an attempt's result means, when to try again, and when an
endpoint has failed long enough to be switched off.

Clock readings and randomness come in as arguments, so the whole schedule is tested
with plain values and no sleeping.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Callable


class Outcome(enum.Enum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"  # network error, timeout, 408, 429, 5xx
    FAILED = "failed"  # the receiver refused it: retrying will not help
    GONE = "gone"  # 410: the receiver asked us to stop; the webhook gets disabled


class Failure(enum.Enum):
    """Why an attempt went wrong, as a type rather than a message to read back: the
    permanent ones fail the delivery at once, since retrying the same request cannot help."""

    BLOCKED = "blocked"  # a private or reserved address that allow_private_networks does not cover
    INVALID_URL = "invalid URL"
    INVALID_HEADER = "invalid header"  # a custom header saved before the header rules were this strict
    CANNOT_SIGN = "cannot sign"  # the webhook's secret or key does not fit its contract's signatures
    TIMEOUT = "timeout"
    CONNECTION = "connection"  # name resolution, refused, reset, TLS
    PROTOCOL = "protocol"  # the receiver's answer is not valid HTTP
    UNEXPECTED = "unexpected"  # an exception nobody foresaw (the dispatcher's catch-all)

    @property
    def permanent(self) -> bool:
        return self in PERMANENT_FAILURES


PERMANENT_FAILURES = frozenset({Failure.BLOCKED, Failure.INVALID_URL, Failure.INVALID_HEADER, Failure.CANNOT_SIGN})
RETRYABLE_STATUS = {408, 429}


def classify(status_code: int | None, failure: Failure | None = None) -> Outcome:
    """`None` means no HTTP response at all (connection error, timeout). A response
    decides by its status even if reading it then failed: the receiver did answer."""
    if status_code is None and failure is not None and failure.permanent:
        return Outcome.FAILED
    if status_code is None or status_code >= 500 or status_code in RETRYABLE_STATUS:
        return Outcome.RETRY
    if 200 <= status_code < 300:
        return Outcome.SUCCEEDED
    if status_code == 410:
        return Outcome.GONE
    return Outcome.FAILED  # other 4xx, and 1xx/3xx: redirects are never followed


@dataclass(frozen=True)
class RetryPolicy:
    """`schedule[n]` is the wait before attempt n+1; its length is the number of attempts.

    The first attempt's time is fixed when the event is emitted, from the global schedule,
    so in a per-webhook override (`Webhook.retry_schedule`) entry 0 only counts as an
    attempt: `[0, 60]` means two attempts, the second a minute after the first fails.
    """

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


@functools.lru_cache(maxsize=256)
def retry_policy(schedule: tuple[float, ...], jitter: float, retry_after_cap: float) -> RetryPolicy:
    """The policy of one schedule, shared by every delivery of the webhooks that use it."""
    return RetryPolicy(schedule, jitter, retry_after_cap)


def auto_disable_reason(
    consecutive_failures: int,
    quiet_since: datetime,
    now: datetime,
    max_failures: int,
    quiet_period: float,
    last_error: str,
) -> str | None:
    """Why a webhook should be switched off now, or None to keep sending.

    Both conditions must hold: a run of failures alone may be one bad minute of a busy
    receiver, and a long quiet spell alone may be a webhook that rarely gets events.
    `quiet_since` is the last success (or the webhook's creation); `max_failures` 0 is never.
    """
    if max_failures == 0 or consecutive_failures < max_failures:
        return None
    if now - quiet_since < timedelta(seconds=quiet_period):
        return None
    return (f"{consecutive_failures} deliveries in a row failed and nothing succeeded since "
            f"{quiet_since:%Y-%m-%d %H:%M} UTC; last error: {last_error}")


def attempts_disable_reason(failed_attempts: int, max_attempts: int, last_error: str) -> str | None:
    """The `attempts` rule (app/rules/contracts.py AutoDisable): off after `max_attempts`
    failed attempts in a row, retries included, whatever the time they took."""
    if failed_attempts < max_attempts:
        return None
    return f"{failed_attempts} attempts in a row failed; last error: {last_error}"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP date; None if unusable.

    What the receiver sent is anything at all: ASCII digits only (`str.isdigit` accepts
    "²" and "٣", which float() then refuses), and any date the parser chokes on is ignored.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a year or offset out of range
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
