"""Sending past events again: recover a webhook's failed deliveries since a time, or replay
one event to one webhook.

Both reuse the delivery row of an (event, webhook) pair, which is unique: the receiver
gets the same `webhook-id` it may already have seen, so its deduplication keeps working,
and the log shows one row per pair with every attempt in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import peewee

from app.rules.clock import parse_instant
from app.rules.errors import InvalidInput, NotFound
from app.rules.ids import new_id
from app.services.deliveries import delivery_with_attempts, get_delivery, resend_delivery
from app.services.webhooks import get_webhook, list_webhooks
from app.storage.db import write_transaction
from app.storage.listen_notify import deliveries_due
from app.storage.models import DELIVERING, FAILED, PENDING, SUCCEEDED, Attempt, Delivery, Event, Recovery, Webhook


def parse_since(value: object, now: datetime) -> datetime:
    since = parse_instant(value, "since")
    if since > now:
        raise InvalidInput("since", "is in the future; nothing can have failed since then")
    return since


def recover_failed(webhook_id: str, tenant_id: int | None, since: object, now: datetime) -> Recovery:
    """Queue every failed delivery of the webhook created at or after `since` (ISO 8601
    text, see parse_since), due now.

    One UPDATE in one transaction: a delivery failing meanwhile is either in the run or
    not, never half. Each gets its whole retry schedule again (`attempts_before_recovery`),
    otherwise one more failure would make a dead letter of it at once.
    """
    since = parse_since(since, now)
    webhook = get_webhook(webhook_id, tenant_id)
    recovery_id = new_id("rcv")
    with write_transaction():
        total = (
            Delivery.update(
                status=PENDING, next_attempt_at=now, recovery=recovery_id,
                attempts_before_recovery=Delivery.attempts, updated_at=now,
            )
            .where((Delivery.webhook == webhook.id) & (Delivery.status == FAILED) & (Delivery.created_at >= since))
            .execute()
        )
        if total:
            deliveries_due()
        return Recovery.create(id=recovery_id, webhook=webhook.id, since=since, total=total, created_at=now)


@dataclass(frozen=True)
class Progress:
    """Where a recovery stands. A delivery counts for the latest recovery that queued it, so
    after a newer one its rows leave this count and the numbers may add up to less than
    `total`; `done` still comes once nothing of it is waiting."""

    recovery: Recovery
    succeeded: int
    failed: int
    pending: int

    @property
    def total(self) -> int:
        return self.recovery.total

    @property
    def sent(self) -> int:
        return self.succeeded + self.failed

    @property
    def done(self) -> bool:
        return self.pending == 0


def recovery_progress(recovery_id: str, tenant_id: int | None) -> Progress:
    query = Recovery.select(Recovery, Webhook).join(Webhook).where(Recovery.id == recovery_id)
    recovery = Webhook.within(query, tenant_id).first()
    if recovery is None:
        raise NotFound(f"no recovery {recovery_id!r}")
    counts = dict(
        Delivery.select(Delivery.status, peewee.fn.COUNT(Delivery.id))
        .where(Delivery.recovery == recovery.id)
        .group_by(Delivery.status)
        .tuples()
    )
    pending = counts.get(PENDING, 0) + counts.get(DELIVERING, 0)
    return Progress(recovery, counts.get(SUCCEEDED, 0), counts.get(FAILED, 0), pending)


def get_event(event_id: str, tenant_id: int | None) -> Event:
    query = Event.select().where(Event.id == event_id)
    event = (query if tenant_id is None else query.where(Event.tenant == tenant_id)).first()
    if event is None:
        raise NotFound(f"no event {event_id!r}")
    return event


def deliveries_of(event: Event) -> list[Delivery]:
    return list(
        Delivery.select(Delivery, Event).join(Event).where(Delivery.event == event.id).order_by(Delivery.created_at, Delivery.id)
    )


def event_with_deliveries(event_id: str, tenant_id: int | None) -> tuple[Event, list[Delivery]]:
    event = get_event(event_id, tenant_id)
    return event, deliveries_of(event)


def replay_event(event_id: str, webhook_id: object, tenant_id: int | None, now: datetime) -> Delivery:
    """Send a past event to one webhook now, whatever it subscribes to and however new it is.

    The pair already has a delivery: that one is resent (409 while an attempt is in
    flight), so a receiver never gets the event twice from one click.
    """
    if not isinstance(webhook_id, str) or not webhook_id:
        raise InvalidInput("webhook_id", "required: the id of the webhook to send the event to")
    event = get_event(event_id, tenant_id)
    try:
        webhook = get_webhook(webhook_id, event.tenant_id)
    except NotFound:
        raise InvalidInput("webhook_id", f"no webhook {webhook_id!r} in this event's tenant") from None
    existing = Delivery.get_or_none((Delivery.event == event.id) & (Delivery.webhook == webhook.id))
    if existing is None:
        try:
            with write_transaction():
                created = Delivery.create(event=event.id, webhook=webhook.id, next_attempt_at=now, created_at=now, updated_at=now)
                deliveries_due()
            return get_delivery(created.id, tenant_id)
        except peewee.IntegrityError:
            existing = Delivery.get((Delivery.event == event.id) & (Delivery.webhook == webhook.id))  # a concurrent replay won
    return resend_delivery(existing.id, tenant_id, now)


def replay_delivery(delivery_id: str, webhook_id: object, tenant_id: int | None, now: datetime) -> Delivery:
    """Send the event of this delivery to another webhook (see replay_event)."""
    return replay_event(get_delivery(delivery_id, tenant_id).event_id, webhook_id, tenant_id, now)


def delivery_detail(delivery_id: str, tenant_id: int) -> tuple[Delivery, list[Attempt], list[Webhook]]:
    """A delivery, its attempts, and the tenant's other webhooks it can be replayed to."""
    delivery, attempts = delivery_with_attempts(delivery_id, tenant_id)
    return delivery, attempts, [w for w in list_webhooks(tenant_id) if w.id != delivery.webhook_id]
