"""The Overview page: how a tenant's deliveries are going, which webhooks need attention, and
the latest failures, the first place to look when something goes wrong.

The rules that decide (a failure rate, "failing now", "slow") are pure functions below,
over plain numbers, so they are tested by table; the queries only gather those numbers.

Every query starts from the tenant's webhooks (read through `webhook(tenant_id)`) and reads
the deliveries of those ids through `delivery(webhook_id, created_at)` or
`delivery(webhook_id, status, created_at)` bounded below by the window's start, and their
attempts through `attempt(delivery_id, number)`: a page reads the window's deliveries a few
times, however long the history is, and nothing of another tenant. (Driven by the ids
rather than a join on `webhook.tenant_id`, SQLite counts from the covering index alone: 4x
faster over a week of 20,000 deliveries.) A window is a
delivery's creation time, as on the Stats tab (app/services/stats.py); latency counts the
attempts of those deliveries made in the window. The slow rule needs no percentile in SQL:
the p95 is above a threshold exactly when enough attempts are (`p95_exceeds`), which one
grouped count tells for every webhook at once; only a slow webhook's p95 is then read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from app.config import Settings
from app.rules.errors import InvalidInput
from app.services.stats import PERIODS, nearest_rank
from app.storage.models import DELIVERING, FAILED, PENDING, SUCCEEDED, Attempt, Delivery, Event, Webhook

# What the lists can look back over; the counts always show both.
OVERVIEW_PERIODS = ("24h", "7d")
RECENT_FAILURES = 10
SLOW_SHARE_OF_TIMEOUT = 0.5  # "slow": the p95 of its attempts above half its timeout
P95 = 0.95

FAILING, DISABLED, SLOW = "failing", "disabled", "slow"


# The pure rules.

def failure_rate(delivered: int, failed: int) -> float | None:
    """The share of finished deliveries that failed; None when none has finished (pending
    ones have not failed yet, and may not)."""
    finished = delivered + failed
    return None if not finished else failed / finished


def p95_exceeds(attempts: int, over: int) -> bool:
    """Whether the nearest-rank p95 of `attempts` durations is above a threshold, knowing only
    how many of them (`over`) are: sorted, the `over` slow ones come last, and the p95 is
    one of them when its rank reaches them."""
    return attempts > 0 and over >= attempts - nearest_rank(attempts, P95)


def slow_threshold_ms(timeout: float) -> float:
    """The latency above which a webhook whose requests time out after `timeout` s is slow."""
    return timeout * 1000 * SLOW_SHARE_OF_TIMEOUT


@dataclass(frozen=True)
class HealthFacts:
    """What the "needs attention" rules look at, for one webhook."""

    enabled: bool
    consecutive_failures: int = 0  # deliveries that ended failed, in a row
    consecutive_failed_attempts: int = 0  # attempts in a row (counted under the `attempts` rule)
    last_failure_at: datetime | None = None  # the newest failed attempt in the window
    last_success_at: datetime | None = None
    attempts: int = 0  # in the window
    slow_attempts: int = 0  # of those, slower than slow_threshold_ms


def is_failing(facts: HealthFacts) -> bool:
    """Failing now: a failure streak is running, or its newest attempt failed (a delivery
    waiting for a retry has not ended the streak yet, but its receiver is failing)."""
    if facts.consecutive_failures or facts.consecutive_failed_attempts:
        return True
    if facts.last_failure_at is None:
        return False
    return facts.last_success_at is None or facts.last_failure_at > facts.last_success_at


def concerns(facts: HealthFacts) -> tuple[str, ...]:
    """Why a webhook needs attention, most urgent first; () when it does not. A disabled one
    is only that: nothing is sent to it, so it can be neither failing nor slow now."""
    if not facts.enabled:
        return (DISABLED,)
    found = (FAILING,) if is_failing(facts) else ()
    return found + ((SLOW,) if p95_exceeds(facts.attempts, facts.slow_attempts) else ())


def window_hours(period: object) -> int:
    if period not in OVERVIEW_PERIODS:
        raise InvalidInput("period", f"must be one of {', '.join(OVERVIEW_PERIODS)}")
    return PERIODS[period]


# What the page shows.

@dataclass(frozen=True)
class Counts:
    delivered: int = 0
    failed: int = 0
    pending: int = 0  # queued, being sent, or waiting for a retry

    @property
    def failure_rate(self) -> float | None:
        return failure_rate(self.delivered, self.failed)

    @property
    def total(self) -> int:
        return self.delivered + self.failed + self.pending

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.delivered + other.delivered, self.failed + other.failed, self.pending + other.pending)


@dataclass(frozen=True)
class Failure:
    """A delivery whose newest attempt failed: it ended `failed`, or waits for a retry."""

    delivery_id: str
    webhook_id: str
    webhook_name: str
    event_type: str
    status: str
    attempts: int
    error: str
    at: datetime  # of the failed attempt

    @property
    def retrying(self) -> bool:
        return self.status != FAILED


@dataclass(frozen=True)
class Attention:
    webhook: Webhook
    concerns: tuple[str, ...]
    counts: Counts  # in the window
    last_failure: Failure | None
    p95_ms: int | None  # read for slow webhooks only
    slow_threshold_ms: float | None  # None for a disabled one


@dataclass(frozen=True)
class Overview:
    period: str
    day: Counts
    week: Counts
    webhooks: int  # the tenant's webhooks, disabled ones included
    attention: list[Attention]
    recent_failures: list[Failure]


def has_webhooks(tenant_id: int) -> bool:
    """Whether the tenant has a webhook (disabled counts, deleted does not): "/" then opens
    the Overview rather than the list's empty state."""
    return Webhook.select().where((Webhook.tenant == tenant_id) & Webhook.deleted_at.is_null()).exists()


def tenant_overview(tenant_id: int, now: datetime, period: object, settings: Settings) -> Overview:
    """The Overview of one tenant at `now`, its lists over `period` (24h or 7d)."""
    since = now - timedelta(hours=window_hours(period))
    day_start, week_start = now - timedelta(hours=PERIODS["24h"]), now - timedelta(hours=PERIODS["7d"])
    every = list(Webhook.select(*_WEBHOOK_COLUMNS).where(Webhook.tenant == tenant_id).order_by(Webhook.name, Webhook.id))
    webhooks = [w for w in every if w.deleted_at is None]
    thresholds = {w.id: slow_threshold_ms(w.timeout or settings.request_timeout) for w in webhooks if w.enabled}
    names = {w.id: w.name for w in webhooks}

    per_webhook = _counts([w.id for w in every], day_start, week_start)
    in_window = {webhook_id: day if period == "24h" else week for webhook_id, (day, week) in per_webhook.items()}
    latency = _latency(thresholds, since)
    recent_failures, newest_failures = _failures(names, since)
    attention = []
    for webhook in webhooks:
        attempts, slow_attempts = latency.get(webhook.id, (0, 0))
        last_failure = newest_failures.get(webhook.id)
        found = concerns(HealthFacts(
            enabled=webhook.enabled, consecutive_failures=webhook.consecutive_failures,
            consecutive_failed_attempts=webhook.consecutive_failed_attempts,
            last_failure_at=last_failure.at if last_failure else None, last_success_at=webhook.last_success_at,
            attempts=attempts, slow_attempts=slow_attempts,
        ))
        if found:
            p95 = _p95_ms(webhook.id, since, attempts) if SLOW in found else None
            attention.append(Attention(webhook, found, in_window.get(webhook.id, Counts()), last_failure, p95,
                                       thresholds.get(webhook.id)))
    urgency = {FAILING: 0, DISABLED: 1, SLOW: 2}
    attention.sort(key=lambda item: urgency[item.concerns[0]])  # stable: by name within each
    return Overview(
        period=str(period),
        day=sum((pair[0] for pair in per_webhook.values()), Counts()),
        week=sum((pair[1] for pair in per_webhook.values()), Counts()),
        webhooks=len(webhooks), attention=attention, recent_failures=recent_failures,
    )


# What the rules and the page read of a webhook: not its secrets, which would be decrypted
# for nothing (6 ms for ten webhooks, against 0.3 ms for these columns).
_WEBHOOK_COLUMNS = (Webhook.id, Webhook.name, Webhook.url, Webhook.enabled, Webhook.disabled_reason, Webhook.timeout,
                    Webhook.consecutive_failures, Webhook.consecutive_failed_attempts, Webhook.failing_since,
                    Webhook.last_success_at, Webhook.updated_at, Webhook.deleted_at)


# Named, though every other status is not counted anyway: with the statuses listed SQLite
# reads each one's range of the index from the week's start on; without them, with no
# statistics, it read every webhook's whole history in that index.
_COUNTED = (PENDING, DELIVERING, SUCCEEDED, FAILED)


def _counts(webhook_ids: list[str], day_start: datetime, week_start: datetime) -> dict[str, tuple[Counts, Counts]]:
    """Per webhook (deleted ones too: their deliveries happened), its deliveries of the last
    day and of the last week by status, in one pass over the week of
    `delivery(webhook_id, status, created_at)`, which holds every column it reads (cancelled
    ones are not shown)."""
    if not webhook_ids:
        return {}
    in_day = peewee.fn.SUM(peewee.Case(None, [(Delivery.created_at >= day_start, 1)], 0))
    rows = (Delivery.select(Delivery.webhook, Delivery.status, peewee.fn.COUNT(peewee.SQL("*")), in_day)
            .where(Delivery.webhook.in_(webhook_ids) & Delivery.status.in_(_COUNTED) & (Delivery.created_at >= week_start))
            .group_by(Delivery.webhook, Delivery.status).tuples())
    found: dict[str, tuple[dict, dict]] = {}
    for webhook_id, status, week_count, day_count in rows:
        day, week = found.setdefault(webhook_id, ({}, {}))
        key = PENDING if status == DELIVERING else status
        day[key], week[key] = day.get(key, 0) + int(day_count or 0), week.get(key, 0) + week_count
    return {
        webhook_id: tuple(Counts(c.get(SUCCEEDED, 0), c.get(FAILED, 0), c.get(PENDING, 0)) for c in pair)
        for webhook_id, pair in found.items()
    }


def _window_attempts(webhook_ids, since: datetime, *columns):
    """Attempts in the window of deliveries created in it."""
    return (Attempt.select(*columns).join(Delivery)
            .where(Delivery.webhook.in_(webhook_ids) & (Delivery.created_at >= since) & (Attempt.started_at >= since)))


def _latency(thresholds: dict[str, float], since: datetime) -> dict[str, tuple[int, int]]:
    """Per webhook of `thresholds` (its slow threshold in ms): its attempts in the window,
    and how many took longer than its threshold."""
    if not thresholds:
        return {}
    threshold = peewee.Case(Delivery.webhook, list(thresholds.items()))
    slow = peewee.fn.SUM(peewee.Case(None, [(Attempt.duration_ms > threshold, 1)], 0))
    rows = _window_attempts(list(thresholds), since, Delivery.webhook, peewee.fn.COUNT(peewee.SQL("*")), slow)
    return {webhook_id: (count, int(over or 0)) for webhook_id, count, over in rows.group_by(Delivery.webhook).tuples()}


def _p95_ms(webhook_id: str, since: datetime, attempts: int) -> int | None:
    """Sorted and picked in SQL, as on the Stats tab, over the attempts `_latency` counted."""
    return (_window_attempts([webhook_id], since, Attempt.duration_ms)
            .order_by(Attempt.duration_ms).limit(1).offset(nearest_rank(attempts, P95)).scalar())


# A delivery whose newest attempt failed: ended failed, or pending again after an attempt
# that did not get a 2xx (a resend of a delivered one is pending with its 2xx). The
# statuses are not listed apart as in `_counts`: without statistics SQLite then took
# `delivery(status, next_attempt_at)`, every tenant's failures, over the window's
# `delivery(webhook_id, created_at)`.
_LAST_ATTEMPT_FAILED = (Delivery.attempts > 0) & (
    (Delivery.status == FAILED)
    | ((Delivery.status == PENDING)
       & (Delivery.last_status_code.is_null() | (Delivery.last_status_code < 200) | (Delivery.last_status_code >= 300)))
)
# Without the event's type: joined here, SQLite's planner may walk the event table's index
# whole to meet the deliveries (it did with 30 small tenants); the few types shown are read
# by id afterwards (`_failures`).
_FAILURE_COLUMNS = (Delivery.id, Delivery.webhook, Delivery.event, Delivery.status, Delivery.attempts,
                    Delivery.last_error, Delivery.last_status_code, Delivery.updated_at)


def _failed_in_window(webhook_ids, since: datetime, *extra):
    return (Delivery.select(*_FAILURE_COLUMNS, *extra)
            .where(Delivery.webhook.in_(webhook_ids) & (Delivery.created_at >= since) & _LAST_ATTEMPT_FAILED))


def _recent_failures(webhook_ids: list[str], since: datetime) -> list[tuple]:
    """The window's newest failures, whichever webhook."""
    return list(_failed_in_window(webhook_ids, since).order_by(Delivery.updated_at.desc(), Delivery.id.desc())
                .limit(RECENT_FAILURES).tuples())


def _newest_failure_per_webhook(webhook_ids: list[str], since: datetime) -> list[tuple]:
    """One query for every webhook: the window's failures ranked newest first per webhook."""
    rank = peewee.fn.ROW_NUMBER().over(partition_by=[Delivery.webhook],
                                       order_by=[Delivery.updated_at.desc(), Delivery.id.desc()])
    ranked = _failed_in_window(webhook_ids, since, rank.alias("newest")).alias("ranked")
    return list(peewee.Select([ranked], [getattr(ranked.c, column.column_name) for column in _FAILURE_COLUMNS])
                .where(ranked.c.newest == 1).bind(Delivery._meta.database).tuples())


def _failures(names: dict[str, str], since: datetime) -> tuple[list[Failure], dict[str, Failure]]:
    """The window's newest failures of the live webhooks (`names`), and each one's newest."""
    if not names:
        return [], {}
    recent, newest = _recent_failures(list(names), since), _newest_failure_per_webhook(list(names), since)
    event_ids = {row[2] for row in recent + newest}
    types = dict(Event.select(Event.id, Event.type).where(Event.id.in_(list(event_ids))).tuples()) if event_ids else {}

    def failure(delivery_id, webhook_id, event_id, status, attempts, error, status_code, at) -> Failure:
        """A time read through a subquery comes back raw (text on SQLite, naive on
        PostgreSQL); the column's own conversion reads either."""
        return Failure(delivery_id, webhook_id, names[webhook_id], types[event_id], status, attempts,
                       error or f"HTTP {status_code}", Delivery.updated_at.python_value(at))

    return [failure(*row) for row in recent], {row[1]: failure(*row) for row in newest}
