"""Rate limits, pure: how many requests a caller may make, with time passed in.

A rate "N per period" is a bucket of N tokens that refills at N per period
(app/rules/token_bucket.py): a caller may spend all N at once (the burst), then one every
period/N. Buckets live in this process's
memory, so with several `hookline serve` processes each one counts on its own: the limits
protect a process from a flood, they are not a quota shared across a fleet.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Hashable

from app.rules.token_bucket import TokenBucket

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(.+?)\s*$")


@dataclass(frozen=True)
class Rate:
    count: int
    period: float  # seconds

    @classmethod
    def parse(cls, text: str, parse_period) -> Rate | None:
        """`"10/15m"` -> Rate(10, 900); `""` or a zero count means no limit (None).

        `parse_period` turns the text after the slash into seconds (config's durations).
        """
        if not text.strip():
            return None
        match = _RATE.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a rate such as \"100/1s\" or \"10/15m\"")
        count, period = int(match.group(1)), parse_period(match.group(2))
        if count == 0:
            return None
        if period <= 0:
            raise ValueError(f"{text!r}: the period must be longer than 0")
        return cls(count, period)


class RateLimiter:
    """One bucket per key (an API key, an IP address, an IP and a user name).

    Full buckets are forgotten when the table grows past `max_keys`, because a full bucket
    and a missing one mean the same thing; a flood of new keys therefore costs memory only
    while those keys are actually being limited.
    """

    def __init__(self, rate: Rate | None, max_keys: int = 10_000):
        self.rate = rate
        self.max_keys = max_keys
        self._buckets: dict[Hashable, TokenBucket] = {}

    def wait(self, key: Hashable, now: datetime, cost: int = 1) -> float:
        """Seconds until `key` has `cost` tokens (0: it has them now). Takes nothing.

        A cost above the burst needs a full bucket: a batch larger than the burst is not
        refused for ever, it spends the bucket to a debt that later requests wait out."""
        if self.rate is None:
            return 0.0
        return self._bucket(key, now.timestamp()).seconds_until(now.timestamp(), min(cost, self.rate.count))

    def take(self, key: Hashable, now: datetime, cost: int = 1) -> float:
        """Spend `cost` tokens if there are enough and return 0; otherwise spend nothing
        and return the seconds until there will be."""
        waiting = self.wait(key, now, cost)
        if waiting or self.rate is None:
            return waiting
        at = now.timestamp()
        self._buckets[key] = bucket = self._bucket(key, at)
        bucket.take(at, cost)
        if len(self._buckets) > self.max_keys:
            self._forget_full(at)
        return 0.0

    def _bucket(self, key: Hashable, at: float) -> TokenBucket:
        """The key's bucket; a new one is full (and only stored once spent from)."""
        return self._buckets.get(key) or TokenBucket.burst(self.rate.count, self.rate.period, at)

    def _forget_full(self, at: float) -> None:
        for key in [k for k, bucket in self._buckets.items() if bucket.is_full(at)]:
            del self._buckets[key]


def retry_after_header(seconds: float) -> str:
    """Retry-After is whole seconds; round up and never say 0, or clients retry at once."""
    return str(max(1, math.ceil(seconds)))
