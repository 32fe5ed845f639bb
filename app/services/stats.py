"""Delivery statistics for the dashboard and the API, computed in SQL over the delivery and attempt logs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import peewee

from app.rules.errors import InvalidInput, NotFound
from app.services.webhooks import get_webhook, list_webhooks
from app.storage.models import (
    CANCELLED, DELIVERING, FAILED, HOUR_FORMAT, PENDING, SUCCEEDED, Attempt, Delivery, Tenant, Webhook, hour_of,
)


@dataclass(frozen=True)
class Health:
    attempts_24h: int
    succeeded_24h: int
    last_status: str | None  # status of the newest delivery
    last_status_code: int | None

    @property
    def success_rate(self) -> float | None:
        return None if not self.attempts_24h else self.succeeded_24h / self.attempts_24h


def health_for(webhook_ids: list[str], now: datetime) -> dict[str, Health]:
    """Per webhook: attempts in the last 24h and how many got a 2xx, and the newest delivery."""
    if not webhook_ids:
        return {}
    since = now - timedelta(hours=24)
    ok = (Attempt.response_status >= 200) & (Attempt.response_status < 300)
    counts = {
        webhook_id: (total, succeeded or 0)
        for webhook_id, total, succeeded in (
            Attempt.select(Delivery.webhook, peewee.fn.COUNT(Attempt.id), peewee.fn.SUM(peewee.Case(None, [(ok, 1)], 0)))
            .join(Delivery)
            .where(Delivery.webhook.in_(webhook_ids) & (Attempt.started_at >= since))
            .group_by(Delivery.webhook)
            .tuples()
        )
    }
    newest = Delivery.select(peewee.fn.MAX(Delivery.id)).where(Delivery.webhook.in_(webhook_ids)).group_by(Delivery.webhook)
    last = {d.webhook_id: (d.status, d.last_status_code) for d in Delivery.select().where(Delivery.id.in_(newest))}
    return {
        webhook_id: Health(
            attempts_24h=counts.get(webhook_id, (0, 0))[0],
            succeeded_24h=counts.get(webhook_id, (0, 0))[1],
            last_status=last.get(webhook_id, (None, None))[0],
            last_status_code=last.get(webhook_id, (None, None))[1],
        )
        for webhook_id in webhook_ids
    }


def webhooks_with_health(tenant_id: int, now: datetime) -> tuple[list[Webhook], dict[str, Health]]:
    """The tenant's webhooks, and how each one is doing, for the dashboard's list."""
    rows = list_webhooks(tenant_id)
    return rows, health_for([w.id for w in rows], now)


def webhook_with_health(webhook_id: str, tenant_id: int, now: datetime) -> tuple[Webhook, dict[str, Health]]:
    """One row of that list."""
    webhook = get_webhook(webhook_id, tenant_id)
    return webhook, health_for([webhook.id], now)


# The Stats tab and GET /api/v1/webhooks/{id}/stats or /api/v1/stats: one webhook's or one
# tenant's numbers over a period. Counts are of deliveries by creation time and current
# status; latency is of attempts, since that is what the receiver's speed shows in. Both
# the dashboard and the API take them from `period_stats`.

PERIODS = {"24h": 24, "7d": 24 * 7, "30d": 24 * 30}


def period_hours(period: object) -> int:
    if period not in PERIODS:
        raise InvalidInput("period", f"must be one of {', '.join(PERIODS)}")
    return PERIODS[period]


@dataclass(frozen=True)
class Scope:
    """Whose deliveries are counted: one webhook's, or every webhook's of one tenant
    (deleted ones included: their deliveries happened)."""

    webhook_id: str | None = None
    tenant_id: int | None = None

    def deliveries(self, query):
        """Narrow a query over deliveries (joined as selected from Delivery) to this scope."""
        if self.webhook_id is not None:
            return query.where(Delivery.webhook == self.webhook_id)
        return query.switch(Delivery).join(Webhook).where(Webhook.tenant == self.tenant_id)


@dataclass(frozen=True)
class WindowStats:
    hours: int
    succeeded: int
    failed: int
    pending: int  # queued or being sent
    cancelled: int  # their webhook was deleted while they waited
    attempts: int
    p50_ms: int | None
    p95_ms: int | None
    p99_ms: int | None

    @property
    def success_rate(self) -> float | None:
        """Of the deliveries that finished; None when none has."""
        done = self.succeeded + self.failed
        return None if not done else self.succeeded / done


@dataclass(frozen=True)
class HourBucket:
    start: datetime
    succeeded: int
    failed: int
    pending: int = 0
    cancelled: int = 0


@dataclass(frozen=True)
class PeriodStats:
    window: WindowStats
    hours: list[HourBucket]  # every hour of the period, oldest first, the current hour last


@dataclass(frozen=True)
class WebhookStats:
    day: WindowStats
    week: WindowStats
    hours: list[HourBucket]  # the last 24 hours, oldest first, the current hour last


def nearest_rank(count: int, fraction: float) -> int:
    """Index into `count` sorted values of the nearest-rank percentile."""
    return max(0, math.ceil(fraction * count) - 1)


def window_stats(scope: Scope, now: datetime, hours: int) -> WindowStats:
    since = now - timedelta(hours=hours)
    by_status = dict(
        scope.deliveries(Delivery.select(Delivery.status, peewee.fn.COUNT(Delivery.id)))
        .where(Delivery.created_at >= since)
        .group_by(Delivery.status)
        .tuples()
    )
    durations = scope.deliveries(Attempt.select(Attempt.duration_ms).join(Delivery)).where(Attempt.started_at >= since)
    count = durations.count()

    def latency(fraction: float) -> int | None:
        """Sorted and picked in SQL, so a busy month is not loaded into memory."""
        if not count:
            return None
        return durations.order_by(Attempt.duration_ms).limit(1).offset(nearest_rank(count, fraction)).scalar()

    return WindowStats(
        hours=hours,
        succeeded=by_status.get(SUCCEEDED, 0),
        failed=by_status.get(FAILED, 0),
        pending=by_status.get(PENDING, 0) + by_status.get(DELIVERING, 0),
        cancelled=by_status.get(CANCELLED, 0),
        attempts=count,
        p50_ms=latency(0.5),
        p95_ms=latency(0.95),
        p99_ms=latency(0.99),
    )


def deliveries_per_hour(scope: Scope, now: datetime, hours: int) -> list[HourBucket]:
    """Deliveries created in each of the last `hours` UTC hours (the current one last), by
    status, counted per hour in SQL."""
    first_hour = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    hour = hour_of(Delivery.created_at)
    rows = (
        scope.deliveries(Delivery.select(hour, Delivery.status, peewee.fn.COUNT(Delivery.id)))
        .where(Delivery.created_at >= first_hour)
        .group_by(hour, Delivery.status)
        .tuples()
    )
    counts = [{SUCCEEDED: 0, FAILED: 0, PENDING: 0, CANCELLED: 0} for _ in range(hours)]
    for text, status, count in rows:
        start = datetime.strptime(text, HOUR_FORMAT).replace(tzinfo=timezone.utc)
        index = int((start - first_hour).total_seconds() // 3600)
        if 0 <= index < hours:
            counts[index][PENDING if status == DELIVERING else status] += count
    return [
        HourBucket(first_hour + timedelta(hours=i), c[SUCCEEDED], c[FAILED], c[PENDING], c[CANCELLED])
        for i, c in enumerate(counts)
    ]


def period_stats(scope: Scope, now: datetime, period: str) -> PeriodStats:
    """The numbers of a period (`24h`, `7d` or `30d`), and its hours."""
    hours = period_hours(period)
    return PeriodStats(window_stats(scope, now, hours), deliveries_per_hour(scope, now, hours))


def webhook_stats(webhook_id: str, now: datetime) -> WebhookStats:
    """The Stats tab: the last day with its hours, and the last week."""
    day = period_stats(Scope(webhook_id=webhook_id), now, "24h")
    return WebhookStats(day=day.window, week=window_stats(Scope(webhook_id=webhook_id), now, PERIODS["7d"]),
                        hours=day.hours)


def stats_tab(webhook_id: str, tenant_id: int, now: datetime) -> tuple[Webhook, WebhookStats]:
    """One webhook in the viewer's scope, and its statistics."""
    webhook = get_webhook(webhook_id, tenant_id)
    return webhook, webhook_stats(webhook.id, now)


def webhook_period_stats(webhook_id: str, tenant_id: int | None, now: datetime, period: object) -> PeriodStats:
    """GET /api/v1/webhooks/{id}/stats: one webhook in the caller's scope."""
    period_hours(period)  # a bad period is named before a missing webhook
    webhook = get_webhook(webhook_id, tenant_id)
    return period_stats(Scope(webhook_id=webhook.id), now, period)


def tenant_period_stats(tenant: Tenant | None, now: datetime, period: object) -> PeriodStats:
    """GET /api/v1/stats: every webhook of one tenant (app/services/tenants.py reading_tenant)."""
    period_hours(period)
    if tenant is None:
        raise NotFound("no such tenant")
    return period_stats(Scope(tenant_id=tenant.id), now, period)
