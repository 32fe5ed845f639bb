"""Delivery statistics for the dashboard, computed in SQL over the attempt log."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from app.services.webhooks import get_webhook, list_webhooks
from app.storage.models import DELIVERING, FAILED, PENDING, SUCCEEDED, Attempt, Delivery, Webhook


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


# One webhook's Stats tab. Counts are of deliveries by creation time and current status;
# latency is of attempts, since that is what the receiver's speed shows in.

@dataclass(frozen=True)
class WindowStats:
    hours: int
    succeeded: int
    failed: int
    pending: int  # queued or being sent
    p50_ms: int | None
    p95_ms: int | None

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


@dataclass(frozen=True)
class WebhookStats:
    day: WindowStats
    week: WindowStats
    hours: list[HourBucket]  # the last 24 hours, oldest first, the current hour last


def nearest_rank(count: int, fraction: float) -> int:
    """Index into `count` sorted values of the nearest-rank percentile."""
    return max(0, math.ceil(fraction * count) - 1)


def window_stats(webhook_id: str, now: datetime, hours: int) -> WindowStats:
    since = now - timedelta(hours=hours)
    by_status = dict(
        Delivery.select(Delivery.status, peewee.fn.COUNT(Delivery.id))
        .where((Delivery.webhook == webhook_id) & (Delivery.created_at >= since))
        .group_by(Delivery.status)
        .tuples()
    )
    durations = (
        Attempt.select(Attempt.duration_ms)
        .join(Delivery)
        .where((Delivery.webhook == webhook_id) & (Attempt.started_at >= since))
    )
    count = durations.count()

    def latency(fraction: float) -> int | None:
        """Sorted and picked in SQL, so a busy week is not loaded into memory."""
        if not count:
            return None
        return durations.order_by(Attempt.duration_ms).limit(1).offset(nearest_rank(count, fraction)).scalar()

    return WindowStats(
        hours=hours,
        succeeded=by_status.get(SUCCEEDED, 0),
        failed=by_status.get(FAILED, 0),
        pending=by_status.get(PENDING, 0) + by_status.get(DELIVERING, 0),
        p50_ms=latency(0.5),
        p95_ms=latency(0.95),
    )


def deliveries_per_hour(webhook_id: str, now: datetime) -> list[HourBucket]:
    """Deliveries created in each of the last 24 hours (the current one last), by status."""
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    counts = [{SUCCEEDED: 0, FAILED: 0, PENDING: 0} for _ in range(24)]
    rows = (
        Delivery.select(Delivery.created_at, Delivery.status)
        .where((Delivery.webhook == webhook_id) & (Delivery.created_at >= first_hour))
        .tuples()
    )
    for created_at, status in rows:
        index = int((created_at - first_hour).total_seconds() // 3600)
        if 0 <= index < 24:
            counts[index][PENDING if status == DELIVERING else status] += 1
    return [
        HourBucket(first_hour + timedelta(hours=i), c[SUCCEEDED], c[FAILED], c[PENDING])
        for i, c in enumerate(counts)
    ]


def webhook_stats(webhook_id: str, now: datetime) -> WebhookStats:
    return WebhookStats(
        day=window_stats(webhook_id, now, 24),
        week=window_stats(webhook_id, now, 24 * 7),
        hours=deliveries_per_hour(webhook_id, now),
    )


def stats_tab(webhook_id: str, tenant_id: int, now: datetime) -> tuple[Webhook, WebhookStats]:
    """One webhook in the viewer's scope, and its statistics."""
    webhook = get_webhook(webhook_id, tenant_id)
    return webhook, webhook_stats(webhook.id, now)
