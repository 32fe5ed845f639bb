"""The one token bucket, pure: `count` tokens every `period` seconds, at most `capacity` held.

Two limits use it. The API and sign-in limiters (app/rules/ratelimit.py) hold a whole
period's worth (`burst`): a caller may spend all of it at once, then one every
period/count. Delivery pacing (app/delivery/slots.py) holds one token (`spaced`): a bucket
that held a second's worth would let `rate` requests through at once and `rate` more
during that second, so a receiver counting per second would see twice its limit; one
token spaces requests 1/rate apart, and any one-second window sees at most `rate`.

Time is passed in (seconds, any origin), so tests need no sleep. A clock that jumps back
refills nothing; refilling goes on from the time of the next spend.
"""

from __future__ import annotations

from dataclasses import dataclass

# Refills are float sums: 3 x (1/3 s at 3 per second) must make a whole token.
_ROUNDING = 1e-9


@dataclass
class TokenBucket:
    count: float  # tokens added every `period`
    period: float  # seconds, > 0
    capacity: float
    tokens: float
    updated_at: float

    @classmethod
    def burst(cls, count: float, period: float, now: float) -> TokenBucket:
        """Full, holding a period's worth."""
        return cls(count, period, capacity=count, tokens=count, updated_at=now)

    @classmethod
    def spaced(cls, per_second: float, now: float) -> TokenBucket:
        """Full, holding one token: requests at least 1/per_second apart."""
        return cls(per_second, 1, capacity=1, tokens=1, updated_at=now)

    def level(self, now: float) -> float:
        """Tokens held at `now` (changes nothing)."""
        elapsed = max(0.0, now - self.updated_at)
        return min(self.capacity, self.tokens + elapsed * self.count / self.period)

    def available(self, now: float) -> int:
        """Whole tokens that may be spent now."""
        return int(self.level(now) + _ROUNDING)

    def take(self, now: float, cost: float = 1) -> None:
        """Spend `cost` tokens; below zero is a debt that later requests wait out."""
        self.tokens, self.updated_at = self.level(now) - cost, now

    def seconds_until(self, now: float, cost: float = 1) -> float:
        """How long until `cost` tokens are held (0: they are now)."""
        tokens = self.level(now)
        return 0.0 if tokens + _ROUNDING >= cost else (cost - tokens) * self.period / self.count

    def is_full(self, now: float) -> bool:
        """A full bucket behaves like a new one, so its owner may forget it."""
        return self.level(now) + _ROUNDING >= self.capacity
