"""Rate limits: the token bucket as a table, then emit and sign-in answering 429."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from bs4 import BeautifulSoup

from app.config import ConfigError, Settings, load_settings, parse_duration
from app.storage.models import Event
from app.rules.ratelimit import Rate, RateLimiter, retry_after_header
from tests.helpers import ADMIN, ADMIN_PASSWORD, ADMIN_USER, serving

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


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


# (seconds since start, outcome of take(): 0 = allowed, else the wait) for a 3/6s bucket:
# a burst of 3, then one token every 2 seconds.
BUCKET_TABLE = [
    (0, 0), (0, 0), (0, 0),  # the burst
    (0, 2.0),                # empty: the next token in 2 s
    (1, 1.0),                # half a token back
    (2, 0),                  # one token back, spent
    (2, 2.0),
    (100, 0), (100, 0), (100, 0), (100, 2.0),  # refilled to the burst, never beyond
    (50, 2.0),               # the clock jumped back: nothing refills, nothing breaks
]


def test_token_bucket_table():
    limiter = RateLimiter(Rate(3, 6))
    assert [limiter.take("k", at(t)) for t, _ in BUCKET_TABLE] == [wait for _, wait in BUCKET_TABLE]


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


def emit(client, headers=ADMIN):
    return client.post("/api/v1/events", json={"type": "order.paid"}, headers=headers)


def test_emit_is_limited_per_api_key(settings, clock, tenant_key_factory):
    with serving(settings.replace(emit_rate_limit="3/1s"), clock, run_sender=False) as client:
        other = tenant_key_factory("globex")
        assert [emit(client).status_code for _ in range(3)] == [202, 202, 202]
        refused = emit(client)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert "too many events for this API key" in refused.json()["error"]["message"]
        assert emit(client, other).status_code == 202, "another key has its own budget"
        clock.advance(1)
        assert emit(client).status_code == 202
    assert Event.select().count() == 5


def test_emit_is_limited_per_client_address_before_the_key_is_checked(settings, clock):
    with serving(settings.replace(emit_ip_rate_limit="2/10s"), clock, run_sender=False) as client:
        assert emit(client, {"Authorization": "Bearer hl_wrong"}).status_code == 401
        assert emit(client).status_code == 202
        refused = emit(client)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "5"
        assert "from this address" in refused.json()["error"]["message"]


def test_default_limits_do_not_throttle_a_busy_emitter(settings, clock):
    defaults = Settings()
    with serving(settings.replace(emit_rate_limit=defaults.emit_rate_limit), clock, run_sender=False) as client:
        assert all(emit(client).status_code == 202 for _ in range(300))


@pytest.fixture
def tenant_key_factory(clock):
    from tests.helpers import key_for

    return lambda slug: key_for(slug, clock)


def login(client, name, password):
    page = BeautifulSoup(client.get("/login").text, "html.parser")
    token = page.select_one("input[name=csrf_token]")["value"]
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token})


def test_failed_sign_ins_are_limited_per_address_and_user(settings, clock):
    from app.services.users import create_first_admin

    limited = settings.replace(login_rate_limit="3/15m", login_ip_rate_limit="5/15m")
    with serving(limited, clock, run_sender=False) as client:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
        assert [login(client, ADMIN_USER, "wrong").status_code for _ in range(3)] == [422, 422, 422]
        refused = login(client, ADMIN_USER, ADMIN_PASSWORD)  # even the right password waits
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "300"
        error = BeautifulSoup(refused.text, "html.parser").select_one(".form-error").text
        assert "Too many failed sign-ins" in error and "300 seconds" in error
        assert BeautifulSoup(refused.text, "html.parser").select_one("input[name=name]")["value"] == ADMIN_USER

        # Other names from the same address have their own budget, up to the address's.
        assert [login(client, "mallory", "x").status_code for _ in range(3)] == [422, 422, 429]
        clock.advance(15 * 60)
        assert login(client, ADMIN_USER, ADMIN_PASSWORD).status_code == 303


def test_successful_sign_ins_are_not_counted(settings, clock):
    from app.services.users import create_first_admin

    with serving(settings.replace(login_rate_limit="2/15m"), clock, run_sender=False) as client:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
        assert all(login(client, ADMIN_USER, ADMIN_PASSWORD).status_code == 303 for _ in range(5))
