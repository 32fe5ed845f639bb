"""The Overview's numbers (app/services/overview.py): its pure rules by table, then the whole
overview of deliveries recorded the way the sender records them (`claim_due` and
`record_results`, so the webhooks' streaks and switch-offs are the engine's own), at an
injected time."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from app.rules.errors import InvalidInput
from app.services import overview
from app.services.overview import DISABLED, FAILING, SLOW, HealthFacts
from app.services.stats import nearest_rank
from app.services.tenants import get_or_create_tenant
from app.services.webhooks import create_webhook, delete_webhook, update_webhook
from app.storage.db import database
from app.storage.models import FAILED, PENDING, Tenant
from tests.helpers import answer_round


# The pure rules.

@pytest.mark.parametrize("delivered, failed, rate", [
    (0, 0, None),  # nothing finished: no rate, not 0 %
    (3, 1, 0.25),
    (0, 2, 1.0),
    (7, 0, 0.0),
])
def test_failure_rate_is_of_finished_deliveries(delivered, failed, rate):
    assert overview.failure_rate(delivered, failed) == rate
    assert overview.Counts(delivered, failed, pending=5).failure_rate == rate  # pending ones do not count


def p95_of(durations: list[int]) -> int:
    return sorted(durations)[nearest_rank(len(durations), 0.95)]


@pytest.mark.parametrize("durations, threshold, slow", [
    ([], 500, False),
    ([900], 500, True),
    ([500], 500, False),  # at the threshold is not over it
    ([10] * 19 + [900], 500, False),  # 1 in 20 is the 5 % the p95 leaves out
    ([10] * 18 + [900] * 2, 500, True),
    ([10] * 95 + [900] * 5, 500, False),
    ([10] * 94 + [900] * 6, 500, True),
    ([600, 10, 700, 20], 500, True),  # order does not matter
])
def test_p95_exceeds_from_counts_alone(durations, threshold, slow):
    over = sum(d > threshold for d in durations)
    assert overview.p95_exceeds(len(durations), over) is slow
    if durations:
        assert (p95_of(durations) > threshold) is slow


def test_p95_exceeds_agrees_with_sorting_on_random_samples():
    rng = random.Random(16)
    for _ in range(300):
        durations = [rng.randint(0, 100) for _ in range(rng.randint(1, 60))]
        threshold = rng.randint(0, 100)
        assert overview.p95_exceeds(len(durations), sum(d > threshold for d in durations)) is (
            p95_of(durations) > threshold), (durations, threshold)


@pytest.mark.parametrize("timeout, threshold_ms", [(10, 5000), (2, 1000), (0.5, 250)])
def test_slow_is_half_the_timeout(timeout, threshold_ms):
    assert overview.slow_threshold_ms(timeout) == threshold_ms


NOW = datetime(2026, 12, 2, 12, tzinfo=timezone.utc)
EARLIER, LATER = NOW - timedelta(minutes=5), NOW - timedelta(minutes=1)


@pytest.mark.parametrize("facts, expected", [
    (HealthFacts(enabled=True), ()),
    (HealthFacts(enabled=True, last_failure_at=EARLIER, last_success_at=LATER), ()),  # recovered since
    (HealthFacts(enabled=True, last_failure_at=LATER, last_success_at=EARLIER), (FAILING,)),  # waiting for a retry
    (HealthFacts(enabled=True, last_failure_at=LATER), (FAILING,)),  # never succeeded
    (HealthFacts(enabled=True, consecutive_failures=3, last_success_at=LATER), (FAILING,)),
    (HealthFacts(enabled=True, consecutive_failed_attempts=2), (FAILING,)),
    (HealthFacts(enabled=True, attempts=20, slow_attempts=2), (SLOW,)),
    (HealthFacts(enabled=True, attempts=20, slow_attempts=1), ()),
    (HealthFacts(enabled=True, consecutive_failures=1, attempts=1, slow_attempts=1), (FAILING, SLOW)),
    (HealthFacts(enabled=False, consecutive_failures=9, attempts=5, slow_attempts=5), (DISABLED,)),
    (HealthFacts(enabled=False), (DISABLED,)),
])
def test_which_webhooks_need_attention(facts, expected):
    assert overview.concerns(facts) == expected


@pytest.mark.parametrize("period", ["30d", "1h", "", None, 24])
def test_a_window_other_than_a_day_or_a_week_is_refused_by_name(period):
    with pytest.raises(InvalidInput) as refused:
        overview.window_hours(period)
    assert refused.value.field == "period"


# The overview of recorded deliveries.

TIMEOUT = 2  # the tests' request_timeout: "slow" is over 1,000 ms


@pytest.fixture
def default(db):
    return Tenant.get(Tenant.slug == "default")


def webhook(tenant, settings, clock, name, **fields):
    return create_webhook(tenant, {"url": f"http://127.0.0.1:9/{name.lower().replace(' ', '-')}", "name": name, **fields}, settings,
                          clock()).webhook


@pytest.fixture
def four(default, settings, clock):
    """Billing healthy, Orders failing for good (one attempt), Legacy switched off by a 410,
    Search slow; Retries answers 500 and waits for its second attempt."""
    hooks = {name: webhook(default, settings, clock, name, **fields) for name, fields in [
        ("Billing", {"retry_schedule": [0]}), ("Orders", {"retry_schedule": [0]}), ("Legacy", {"retry_schedule": [0]}),
        ("Search", {"retry_schedule": [0]}), ("Retries", {"retry_schedule": [0, 3600]}),
    ]}
    ok = {h.id: (200, 20) for h in hooks.values()}
    answer_round(default, settings, clock, ok)
    answer_round(default, settings, clock, {**ok, hooks["Orders"].id: (500, 30), hooks["Legacy"].id: (410, 5),
                                          hooks["Search"].id: (200, 1500), hooks["Retries"].id: (None, 2)})
    clock.advance(60)
    return hooks


@pytest.mark.postgres
def test_the_overview_counts_rates_attention_and_failures(four, default, settings, clock):
    numbers = overview.tenant_overview(default.id, clock(), "24h", settings)

    # Ten deliveries: two rounds to five webhooks; Legacy's 410 and Orders' 500 failed,
    # Retries' refused connection waits for its retry.
    assert numbers.day == numbers.week == overview.Counts(delivered=7, failed=2, pending=1)
    assert numbers.day.failure_rate == pytest.approx(2 / 9)
    assert numbers.webhooks == 5

    attention = {item.webhook.name: item for item in numbers.attention}
    assert {name: item.concerns for name, item in attention.items()} == {
        "Orders": (FAILING,), "Retries": (FAILING,), "Legacy": (DISABLED,), "Search": (SLOW,)}
    assert [item.webhook.name for item in numbers.attention] == ["Orders", "Retries", "Legacy", "Search"]
    assert attention["Legacy"].webhook.disabled_reason.startswith("The endpoint answered 410 Gone")
    assert attention["Orders"].last_failure.error == "HTTP 500"
    assert attention["Orders"].counts == overview.Counts(delivered=1, failed=1)
    assert (attention["Search"].p95_ms, attention["Search"].slow_threshold_ms) == (1500, 1000)
    assert attention["Retries"].last_failure.error == "connection refused"

    failures = numbers.recent_failures  # all three failed in the same round
    assert sorted((f.webhook_name, f.status, f.error, f.retrying, f.event_type) for f in failures) == [
        ("Legacy", FAILED, "HTTP 410", False, "order.created"), ("Orders", FAILED, "HTTP 500", False, "order.created"),
        ("Retries", PENDING, "connection refused", True, "order.created"),
    ]
    assert {f.delivery_id for f in failures} == {item.last_failure.delivery_id for item in numbers.attention
                                                 if item.last_failure}


@pytest.mark.postgres
def test_recent_failures_are_newest_first_and_bounded(default, settings, clock):
    hook = webhook(default, settings, clock, "Flaky", retry_schedule=[0])
    for status in [500, 502, 503] * 4:  # twelve failures, one a second
        answer_round(default, settings, clock, {hook.id: (status, 10)})
    failures = overview.tenant_overview(default.id, clock(), "24h", settings).recent_failures
    assert len(failures) == overview.RECENT_FAILURES == 10
    assert [f.error for f in failures[:3]] == ["HTTP 503", "HTTP 502", "HTTP 500"]
    assert [f.at for f in failures] == sorted((f.at for f in failures), reverse=True)


@pytest.mark.postgres
def test_windows_move_with_the_clock(four, default, settings, clock):
    clock.advance(25 * 3600)  # the two rounds are now yesterday's; Retries' retry is due
    answer_round(default, settings, clock, {h.id: (200, 20) for h in four.values() if h.name != "Legacy"})
    day = overview.tenant_overview(default.id, clock(), "24h", settings)
    assert day.day == overview.Counts(delivered=4)
    assert day.week == overview.Counts(delivered=12, failed=2)  # the retry succeeded
    assert {item.webhook.name: item.concerns for item in day.attention} == {"Legacy": (DISABLED,)}
    assert day.recent_failures == []
    week = overview.tenant_overview(default.id, clock(), "7d", settings)
    assert sorted(f.webhook_name for f in week.recent_failures) == ["Legacy", "Orders"]
    # Over the week Search's one slow attempt of three is more than the p95 leaves out.
    assert {item.webhook.name: item.concerns for item in week.attention} == {"Legacy": (DISABLED,), "Search": (SLOW,)}


def test_one_success_after_a_failure_ends_failing_now(four, default, settings, clock):
    answer_round(default, settings, clock, {h.id: (200, 20) for h in four.values() if h.name != "Legacy"})
    numbers = overview.tenant_overview(default.id, clock(), "24h", settings)
    assert {item.webhook.name: item.concerns for item in numbers.attention} == {"Legacy": (DISABLED,),
                                                                                "Search": (SLOW,)}
    # The failures stay in the list: they happened, each a click from its delivery.
    assert sorted(f.webhook_name for f in numbers.recent_failures) == ["Legacy", "Orders", "Retries"]


def test_a_webhook_switched_off_by_hand_needs_attention_without_a_reason(default, settings, clock):
    quiet = webhook(default, settings, clock, "Quiet")
    update_webhook(quiet.id, default.id, {"enabled": False}, settings, clock())
    (item,) = overview.tenant_overview(default.id, clock(), "24h", settings).attention
    assert (item.webhook.name, item.concerns, item.webhook.disabled_reason) == ("Quiet", (DISABLED,), None)


@pytest.mark.postgres
def test_another_tenants_webhooks_and_failures_never_show(four, default, settings, clock):
    globex = get_or_create_tenant("globex", clock())
    theirs = webhook(globex, settings, clock, "Globex hook", retry_schedule=[0])
    answer_round(globex, settings, clock, {theirs.id: (503, 1900)})
    ours = overview.tenant_overview(default.id, clock(), "7d", settings)
    assert theirs.id not in {item.webhook.id for item in ours.attention}
    assert theirs.id not in {f.webhook_id for f in ours.recent_failures}
    assert ours.week == overview.Counts(delivered=7, failed=2, pending=1)
    other = overview.tenant_overview(globex.id, clock(), "7d", settings)
    assert other.week == overview.Counts(failed=1) and other.webhooks == 1
    assert [(item.webhook.name, item.concerns) for item in other.attention] == [("Globex hook", (FAILING, SLOW))]
    assert [f.error for f in other.recent_failures] == ["HTTP 503"]
    assert overview.has_webhooks(globex.id) and not overview.has_webhooks(get_or_create_tenant("empty", clock()).id)


def test_deleted_webhooks_count_in_totals_only(four, default, settings, clock):
    delete_webhook(four["Orders"].id, default.id, clock())
    numbers = overview.tenant_overview(default.id, clock(), "24h", settings)
    assert numbers.day == overview.Counts(delivered=7, failed=2, pending=1)  # its deliveries happened
    assert "Orders" not in {item.webhook.name for item in numbers.attention}
    assert "Orders" not in {f.webhook_name for f in numbers.recent_failures}


def test_the_queries_read_the_window_through_indexes(four, default, settings, clock):
    """EXPLAIN QUERY PLAN of every statement the overview runs: each table is read through an
    index bounded by the window (SEARCH), never walked whole (SCAN). Hookline never runs
    ANALYZE, so these are the plans an installation gets (the commit that added this test
    says what they were over 20,000 deliveries, with and without ANALYZE)."""
    if database.obj.__class__.__name__ != "SqliteDatabase":
        pytest.skip("SQLite's plans")
    webhook(get_or_create_tenant("globex", clock()), settings, clock, "Other")
    real = database.obj
    statements = []
    execute = real.execute_sql

    def recording(sql, params=None, *args, **kwargs):
        statements.append((sql, params))
        return execute(sql, params, *args, **kwargs)

    real.execute_sql = recording
    try:
        overview.tenant_overview(default.id, clock(), "7d", settings)
    finally:
        real.execute_sql = execute
    plans = {sql: [row[-1] for row in execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()]
             for sql, params in statements}
    assert len(plans) >= 5
    for sql, plan in plans.items():
        walked = [step for step in plan if step.startswith("SCAN") and "subquery" not in step and "ranked" not in step]
        assert not walked, (sql, plan)
