"""Pure pacing for one webhook's rate limit: a token bucket that holds a single token.

A bucket that held a second's worth of tokens would let `rate` requests through at once
and `rate` more during that second: a receiver counting per second would see twice its
limit. Holding one token spaces requests 1/rate apart, so any one-second window sees at
most `rate` of them. The clock is passed in (seconds, any origin), so tests need no sleep.
"""

from __future__ import annotations

from dataclasses import dataclass

# Refills are float sums: 3 x (1/3 s at 3 per second) must make a whole token.
_ROUNDING = 1e-9


@dataclass
class TokenBucket:
    rate: float  # tokens per second, > 0
    tokens: float = 1.0
    updated_at: float = 0.0
    capacity: float = 1.0

    @classmethod
    def full(cls, rate: float, now: float) -> TokenBucket:
        return cls(rate=rate, updated_at=now)

    def available(self, now: float) -> int:
        """Whole tokens that may be spent now."""
        self._refill(now)
        return int(self.tokens + _ROUNDING)

    def take(self, now: float, count: int = 1) -> None:
        """Spend tokens granted by `available` (the caller never asks for more)."""
        self._refill(now)
        self.tokens -= count

    def seconds_until_token(self, now: float) -> float:
        """How long until the next whole token: when a sweep could send again."""
        self._refill(now)
        return max(0.0, (1 - self.tokens - _ROUNDING) / self.rate)

    def is_full(self, now: float) -> bool:
        """A full bucket behaves like a new one, so the sender may forget it."""
        self._refill(now)
        return self.tokens + _ROUNDING >= self.capacity

    def _refill(self, now: float) -> None:
        if now > self.updated_at:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated_at) * self.rate)
            self.updated_at = now
