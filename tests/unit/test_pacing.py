"""The token bucket behind per-webhook rate limits: a table of (time, action, expected)."""

from __future__ import annotations

import pytest

from app.delivery.pacing import TokenBucket


@pytest.mark.parametrize(
    "rate, steps",
    [
        # A new bucket lets one request through at once, then one per 1/rate seconds.
        (4, [(0, 1), (0, 0), (0.1, 0), (0.25, 1), (0.25, 0), (0.5, 1), (0.75, 1)]),
        # Idle time does not store up a burst: one token at most.
        (4, [(0, 1), (10, 1), (10, 0), (10.25, 1)]),
        # Rates below one per second.
        (0.5, [(0, 1), (1, 0), (1.999, 0), (2, 1), (3, 0)]),
        # Thirds add up to a whole token despite float sums.
        (3, [(0, 1), (1 / 3, 1), (2 / 3, 1), (1.0, 1), (1.2, 0)]),
    ],
)
def test_spends_at_most_one_token_per_interval(rate, steps):
    bucket = TokenBucket.full(rate, now=0)
    for now, expected in steps:
        granted = bucket.available(now)
        assert granted == expected, f"at t={now}"
        bucket.take(now, granted)


@pytest.mark.parametrize(
    "rate, spent_at, now, wait",
    [
        (4, 0, 0, 0.25),
        (4, 0, 0.1, 0.15),
        (4, 0, 0.25, 0),
        (0.5, 10, 11, 1),
    ],
)
def test_seconds_until_token(rate, spent_at, now, wait):
    bucket = TokenBucket.full(rate, now=spent_at)
    bucket.take(spent_at)
    assert bucket.seconds_until_token(now) == pytest.approx(wait)


def test_a_full_bucket_can_be_forgotten():
    bucket = TokenBucket.full(2, now=0)
    assert bucket.is_full(0)
    bucket.take(0)
    assert not bucket.is_full(0.4)
    assert bucket.is_full(0.5)


@pytest.mark.parametrize("window_start", [0, 0.1, 0.3, 1.05, 2.9])
def test_no_one_second_window_exceeds_the_rate(window_start):
    """Take greedily every 10 ms for 5 s: any [t, t+1) holds at most `rate` grants."""
    rate = 4
    bucket = TokenBucket.full(rate, now=0)
    grants = []
    for tick in range(500):
        now = tick / 100
        if bucket.available(now):
            bucket.take(now)
            grants.append(now)
    assert len(grants) == 20
    assert sum(window_start <= t < window_start + 1 for t in grants) <= rate
