"""The one token bucket, as tables: pacing's one-token bucket, the API limiter's burst
bucket, and the rate limiter and rate text built on it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.config import ConfigError, load_settings, parse_duration
from app.rules.ratelimit import Rate, RateLimiter, retry_after_header
from app.rules.token_bucket import TokenBucket

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


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
def test_a_spaced_bucket_spends_at_most_one_token_per_interval(rate, steps):
    bucket = TokenBucket.spaced(rate, now=0)
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
def test_seconds_until_the_next_token(rate, spent_at, now, wait):
    bucket = TokenBucket.spaced(rate, now=spent_at)
    bucket.take(spent_at)
    assert bucket.seconds_until(now) == pytest.approx(wait)


@pytest.mark.parametrize(
    "bucket, spent, full_at",
    [
        (TokenBucket.spaced(2, now=0), 1, 0.5),
        (TokenBucket.burst(3, 6, now=0), 3, 6),
        (TokenBucket.burst(3, 6, now=0), 1, 2),
    ],
    ids=["spaced", "burst emptied", "burst one spent"],
)
def test_a_full_bucket_can_be_forgotten(bucket, spent, full_at):
    assert bucket.is_full(0)
    bucket.take(0, spent)
    assert not bucket.is_full(full_at * 0.9)
    assert bucket.is_full(full_at)


@pytest.mark.parametrize("window_start", [0, 0.1, 0.3, 1.05, 2.9])
def test_no_one_second_window_exceeds_the_rate(window_start):
    """Take greedily every 10 ms for 5 s: any [t, t+1) holds at most `rate` grants."""
    rate = 4
    bucket = TokenBucket.spaced(rate, now=0)
    grants = []
    for tick in range(500):
        now = tick / 100
        if bucket.available(now):
            bucket.take(now)
            grants.append(now)
    assert len(grants) == 20
    assert sum(window_start <= t < window_start + 1 for t in grants) <= rate


@pytest.mark.parametrize(
    "text, rate",
    [
        ("10/15m", Rate(10, 900)),
        ("100 / 1s", Rate(100, 1)),
        ("5/2", Rate(5, 2)),
        ("", None),
        ("0/1s", None),
    ],
)
def test_rate_parsing(text, rate):
    assert Rate.parse(text, lambda period: parse_duration("x", period)) == rate


@pytest.mark.parametrize("text", ["10", "ten/1s", "10/", "-1/1s", "10/0s"])
def test_bad_rates_stop_start_up_naming_the_key(text):
    with pytest.raises(ConfigError, match="login_rate_limit"):
        load_settings(None, {"HOOKLINE_LOGIN_RATE_LIMIT": text, "HOOKLINE_CONFIG": ""})


# (seconds since start, outcome of take(): 0 = allowed, else the wait) for a 3/6s limiter:
# a burst of 3, then one token every 2 seconds.
LIMITER_TABLE = [
    (0, 0), (0, 0), (0, 0),  # the burst
    (0, 2.0),                # empty: the next token in 2 s
    (1, 1.0),                # half a token back
    (2, 0),                  # one token back, spent
    (2, 2.0),
    (100, 0), (100, 0), (100, 0), (100, 2.0),  # refilled to the burst, never beyond
    (50, 2.0),               # the clock jumped back: nothing refills, nothing breaks
]


def test_rate_limiter_table():
    limiter = RateLimiter(Rate(3, 6))
    assert [limiter.take("k", at(t)) for t, _ in LIMITER_TABLE] == [wait for _, wait in LIMITER_TABLE]


@pytest.mark.parametrize(
    "cost, waits",
    [
        (1, [0, 0, 0, 2.0]),
        (3, [0, 6.0]),
        (5, [0, 10.0]),  # above the burst: allowed on a full bucket, leaving a debt of 2
    ],
)
def test_a_cost_waits_for_its_tokens_capped_at_the_burst(cost, waits):
    limiter = RateLimiter(Rate(3, 6))
    assert [limiter.take("k", at(0), cost) for _ in waits] == waits


def test_keys_have_their_own_buckets_and_wait_takes_nothing():
    limiter = RateLimiter(Rate(1, 10))
    assert limiter.take("a", at(0)) == 0
    assert limiter.take("a", at(0)) == 10
    assert limiter.take("b", at(0)) == 0
    assert limiter.wait("c", at(0)) == 0 and limiter.wait("c", at(0)) == 0


def test_no_rate_never_limits():
    limiter = RateLimiter(None)
    assert all(limiter.take("k", at(0)) == 0 for _ in range(1000))


def test_full_buckets_are_forgotten_when_the_table_grows():
    limiter = RateLimiter(Rate(1, 1), max_keys=10)
    for n in range(10):
        limiter.take(n, at(0))
    limiter.take("late", at(5))  # every earlier bucket is full again by now
    assert len(limiter._buckets) <= 2


@pytest.mark.parametrize("seconds, header", [(0.01, "1"), (1, "1"), (1.2, "2"), (899.5, "900")])
def test_retry_after_is_whole_seconds_at_least_one(seconds, header):
    assert retry_after_header(seconds) == header
