"""Delivery statistics for the dashboard, computed in SQL over the attempt log."""

from __future__ import annotations

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

