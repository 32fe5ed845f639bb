"""Delivery statistics for the dashboard, computed in SQL over the attempt log."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from app.models import Attempt, Delivery


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



@dataclass(frozen=True)
class HourBucket:
    start: datetime
    succeeded: int
    failed: int


@dataclass(frozen=True)
class WebhookStats:
    counts_24h: dict[str, int]
    counts_7d: dict[str, int]
    p50_ms: int | None
    p95_ms: int | None
    hours: list[HourBucket]

    @property
    def success_rate_7d(self) -> float | None:
        done = self.counts_7d["succeeded"] + self.counts_7d["failed"]
        return None if not done else self.counts_7d["succeeded"] / done


def percentile(values: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def webhook_stats(webhook_id: str, now: datetime) -> WebhookStats:
    """Deliveries by status (24 h and 7 d, by creation time), attempt latency and an hourly
    series of attempt outcomes for the last 24 h."""

    def counts(since: datetime) -> dict[str, int]:
        rows = (
            Delivery.select(Delivery.status, peewee.fn.COUNT(Delivery.id))
            .where((Delivery.webhook == webhook_id) & (Delivery.created_at >= since))
            .group_by(Delivery.status)
            .tuples()
        )
        found = dict(rows)
        return {status: found.get(status, 0) for status in ("succeeded", "failed", "pending", "delivering")}

    day_ago = now - timedelta(hours=24)
    attempts = list(
        Attempt.select(Attempt.started_at, Attempt.duration_ms, Attempt.response_status)
        .join(Delivery)
        .where((Delivery.webhook == webhook_id) & (Attempt.started_at >= day_ago))
        .tuples()
    )
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    ok = [0] * 24
    failed = [0] * 24
    for started_at, _, status in attempts:
        index = int((started_at - first_hour).total_seconds() // 3600)
        if 0 <= index < 24:
            if status is not None and 200 <= status < 300:
                ok[index] += 1
            else:
                failed[index] += 1
    durations = [duration for _, duration, _ in attempts]
    return WebhookStats(
        counts_24h=counts(day_ago),
        counts_7d=counts(now - timedelta(days=7)),
        p50_ms=percentile(durations, 0.5),
        p95_ms=percentile(durations, 0.95),
        hours=[HourBucket(first_hour + timedelta(hours=i), ok[i], failed[i]) for i in range(24)],
    )


@dataclass(frozen=True)
class Bar:
    x: int
    ok_y: int
    ok_height: int
    failed_y: int
    failed_height: int
    label: str
    title: str


CHART_HEIGHT = 120
BAR_WIDTH = 16
BAR_GAP = 4


def chart_bars(hours: list[HourBucket]) -> list[Bar]:
    """SVG geometry of a stacked bar per hour (succeeded below, failed on top), scaled to
    the busiest hour; kept out of the template so it can be tested."""
    peak = max((h.succeeded + h.failed for h in hours), default=0) or 1
    bars = []
    for index, hour in enumerate(hours):
        ok_height = round(hour.succeeded / peak * CHART_HEIGHT)
        failed_height = round(hour.failed / peak * CHART_HEIGHT)
        bars.append(Bar(
            x=index * (BAR_WIDTH + BAR_GAP),
            ok_y=CHART_HEIGHT - ok_height,
            ok_height=ok_height,
            failed_y=CHART_HEIGHT - ok_height - failed_height,
            failed_height=failed_height,
            label=f"{hour.start:%H}" if index % 3 == 0 else "",
            title=f"{hour.start:%H:00} UTC: {hour.succeeded} succeeded, {hour.failed} failed",
        ))
    return bars
