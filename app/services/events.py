"""Emit: store an event and its fan-out in one transaction, before anyone is told "accepted".

Nothing is sent here. The event row and one delivery row per subscribed webhook are
committed together, so an accepted event survives a crash and the sweeper finds it. A
webhook's payload filter is applied here too: an event it rejects never becomes a delivery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from app.config import Settings
from app.db import write_transaction
from app.errors import InvalidInput
from app.filters import event_matches
from app.models import Delivery, Event, Tenant, Webhook
from app.services.catalog import emittable_type
from app.subscriptions import matches

MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class Emitted:
    event_id: str
    deliveries: int
    replayed: bool = False  # an earlier request with the same idempotency key made it


def emit_event(
    tenant: Tenant,
    type_name: object,
    data: object,
    settings: Settings,
    now: datetime,
    idempotency_key: str | None = None,
    only_webhook: Webhook | None = None,
) -> Emitted:
    """Accept one event for `tenant`.

    `only_webhook` sends it to that webhook alone, whatever it subscribes to or filters: that is how a
    test event travels the normal delivery path without reaching anyone else.
    """
    type_name = emittable_type(type_name, now, settings.auto_register_event_types)
    data_text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    if idempotency_key is not None:
        if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
            raise InvalidInput("idempotency_key", f"must be a string of 1-{MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    try:
        with write_transaction():
            if idempotency_key is not None:
                earlier = _claim_idempotency_key(tenant, idempotency_key, now, settings.idempotency_ttl)
                if earlier is not None:
                    return earlier
            event = Event.create(tenant=tenant, type=type_name, data=data_text, idempotency_key=idempotency_key, created_at=now)
            first_attempt_at = now + timedelta(seconds=settings.retry_schedule[0])
            targets = [only_webhook] if only_webhook else _subscribers(event, tenant)
            if targets:
                Delivery.insert_many(
                    [{"id": Delivery.id.default(), "event": event.id, "webhook": w.id, "next_attempt_at": first_attempt_at,
                      "created_at": now, "updated_at": now} for w in targets]
                ).execute()
            return Emitted(event.id, len(targets))
    except peewee.IntegrityError:
        if idempotency_key is None:
            raise
        # PostgreSQL: a concurrent request with the same key committed first; answer with its event.
        return _replay(Event.get((Event.tenant == tenant) & (Event.idempotency_key == idempotency_key)))


def _subscribers(event: Event, tenant: Tenant) -> list[Webhook]:
    """The enabled webhooks that take this event: its type subscribed, its payload filter passed."""
    webhooks = [w for w in Webhook.enabled_for(tenant.id) if matches(w.events, event.type)]
    if not any(w.filter for w in webhooks):
        return webhooks
    envelope = json.loads(event.envelope())  # filters see exactly what would be sent
    return [w for w in webhooks if event_matches(w.filter, envelope)]


def _claim_idempotency_key(tenant: Tenant, key: str, now: datetime, ttl: float) -> Emitted | None:
    earlier = Event.get_or_none((Event.tenant == tenant) & (Event.idempotency_key == key))
    if earlier is None:
        return None
    if earlier.created_at > now - timedelta(seconds=ttl):
        return _replay(earlier)
    # The key expired: release it so this request can use it for a new event.
    Event.update(idempotency_key=None).where(Event.id == earlier.id).execute()
    return None


def _replay(event: Event) -> Emitted:
    return Emitted(event.id, Delivery.select().where(Delivery.event == event.id).count(), replayed=True)
