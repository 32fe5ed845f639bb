"""Emit: store an event and its fan-out in one transaction, before anyone is told "accepted".

Nothing is sent here. The event row and one delivery row per subscribed webhook are
committed together, so an accepted event survives a crash and the sweeper finds it. A
webhook's payload filter is applied here too: an event it rejects never becomes a delivery.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from app.config import Settings
from app.rules import jsontext
from app.rules.errors import Conflict, InvalidInput, ServiceError
from app.rules.filters import event_matches
from app.rules.ids import new_id
from app.rules.subscriptions import matches
from app.rules.tracecontext import TraceContext
from app.services.catalog import emittable_type
from app.services.tenants import NamedTenant, for_write
from app.storage import hotsql
from app.storage.db import write_transaction
from app.storage.listen_notify import deliveries_due
from app.storage.models import Delivery, Event, Tenant, Webhook

MAX_IDEMPOTENCY_KEY_LENGTH = 255

log = logging.getLogger("hookline.events")


@dataclass(frozen=True)
class Emitted:
    event_id: str
    deliveries: int
    replayed: bool = False  # an earlier request with the same idempotency key made it


class Lookups:
    """Reads that every event of one transaction would repeat, done once per transaction: a
    group commit of 256 events asked for the same type and the same webhooks 256 times.

    Kept for one transaction only, whose writes they cannot miss (the SQLite write lock is
    held; on PostgreSQL a webhook committed by someone else during the batch counts as
    created after these events). A type or a tenant is remembered only when it cannot have
    been created by this transaction, so an item's rolled-back savepoint leaves nothing behind.
    """

    def __init__(self, settings: Settings):
        self._auto_register = settings.auto_register_event_types
        self._types: set[str] = set()
        self._webhooks: dict[int, list[Webhook]] = {}
        self.tenants: dict[str, Tenant] = {}  # by slug, for tenants.get_or_create_tenant(found=)

    def emittable_type(self, type_name: object, now: datetime) -> str:
        if type_name in self._types:
            return type_name
        name = emittable_type(type_name, now, self._auto_register)
        if not self._auto_register:
            self._types.add(name)
        return name

    def enabled_webhooks(self, tenant_id: int) -> list[Webhook]:
        if tenant_id not in self._webhooks:
            self._webhooks[tenant_id] = hotsql.select(_receivers, tenant_id)
        return self._webhooks[tenant_id]


def _receivers(tenant_id: int):
    """What choosing receivers needs: loading whole rows decrypted every secret per event."""
    return Webhook.enabled_for(tenant_id).select(Webhook.id, Webhook.events, Webhook.filter)


_EVENT_ROW = (Event.id, Event.tenant, Event.type, Event.data, Event.idempotency_key, Event.created_at,
              Event.traceparent, Event.tracestate)
_DELIVERY_ROW = (Delivery.id, Delivery.event, Delivery.webhook, Delivery.next_attempt_at, Delivery.created_at,
                 Delivery.updated_at)


def emit_event(
    tenant: Tenant,
    type_name: object,
    data: object,
    settings: Settings,
    now: datetime,
    idempotency_key: str | None = None,
    only_webhook: Webhook | None = None,
    lookups: Lookups | None = None,
    trace: TraceContext | None = None,
    excluding: str | None = None,
) -> Emitted:
    """Accept one event for `tenant`.

    `only_webhook` sends it to that webhook alone, whatever it subscribes to or filters: that is how a
    test event travels the normal delivery path without reaching anyone else. `lookups`:
    shared by the events of one transaction. `trace`: the producer's trace context, which
    every attempt continues (app/rules/tracecontext.py); a replay keeps the first one's.
    `excluding`: a webhook id it never goes to (an operational event about a failing
    webhook, app/services/webhook_health.py).
    """
    lookups = lookups or Lookups(settings)
    data_text = jsontext.dumps(data)  # with the digits the producer sent
    if idempotency_key is not None:
        if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
            raise InvalidInput("idempotency_key", f"must be a string of 1-{MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    try:
        with write_transaction():
            type_name = lookups.emittable_type(type_name, now)  # registered (if new) with the event alone
            if idempotency_key is not None:
                earlier = _claim_idempotency_key(tenant, idempotency_key, type_name, data_text, now, settings.idempotency_ttl)
                if earlier is not None:
                    return earlier
            traceparent, tracestate = (trace.traceparent, trace.tracestate) if trace else (None, None)
            event = Event(id=new_id("evt"), tenant=tenant, type=type_name, data=data_text,
                          idempotency_key=idempotency_key, created_at=now)
            hotsql.insert(_EVENT_ROW, [(event.id, tenant.id, type_name, data_text, idempotency_key, now, traceparent,
                                        tracestate)])
            first_attempt_at = now + timedelta(seconds=settings.retry_schedule[0])
            targets = [only_webhook] if only_webhook else _subscribers(event, lookups.enabled_webhooks(tenant.id))
            if excluding is not None:
                targets = [w for w in targets if w.id != excluding]
            if targets:
                hotsql.insert(_DELIVERY_ROW, [(new_id("dlv"), event.id, w.id, first_attempt_at, now, now) for w in targets])
                deliveries_due()  # PostgreSQL sends one per transaction, whatever the events in it
            return Emitted(event.id, len(targets))
    except peewee.IntegrityError:
        if idempotency_key is None:
            raise
        # PostgreSQL: a concurrent request with the same key committed first; answer with its event.
        earlier = Event.get((Event.tenant == tenant) & (Event.idempotency_key == idempotency_key))
        return _replay(earlier, type_name, data_text)


def _subscribers(event: Event, enabled: list[Webhook]) -> list[Webhook]:
    """The enabled webhooks that take this event: its type subscribed, its payload filter passed."""
    webhooks = [w for w in enabled if matches(w.events, event.type)]
    if not any(w.filter for w in webhooks):
        return webhooks
    envelope = json.loads(event.envelope())  # filters see exactly what would be sent
    return [w for w in webhooks if _passes_filter(w, event, envelope)]


def _passes_filter(webhook: Webhook, event: Event, envelope: dict) -> bool:
    """Filters do not raise (app/rules/filters.py); if one still does, the event goes out anyway:
    a delivery too many is visible and harmless, a lost event is neither, and an emit that
    failed would lose the whole batch it came in. Logged without the payload or the error's
    text, which may quote it."""
    try:
        return event_matches(webhook.filter, envelope)
    except Exception as exc:  # the last line behind the rules of app/rules/filters.py
        log.error("the payload filter of webhook %s failed on event %s (%s); delivering it unfiltered",
                  webhook.id, event.id, type(exc).__name__)
        return True


def _claim_idempotency_key(
    tenant: Tenant, key: str, type_name: str, data_text: str, now: datetime, ttl: float
) -> Emitted | None:
    earlier = Event.get_or_none((Event.tenant == tenant) & (Event.idempotency_key == key))
    if earlier is None:
        return None
    if earlier.created_at > now - timedelta(seconds=ttl):
        return _replay(earlier, type_name, data_text)
    # The key expired: release it so this request can use it for a new event.
    Event.update(idempotency_key=None).where(Event.id == earlier.id).execute()
    return None


def _replay(event: Event, type_name: str, data_text: str) -> Emitted:
    """The earlier event, if this request is the same one again. A different type or data
    under the same key is a client bug (a reused key), and answering with the first event
    would silently drop the second. Key order does not make a difference."""
    if event.type != type_name or _canonical(event.data) != _canonical(data_text):
        raise Conflict(
            f"idempotency_key: {event.idempotency_key!r} was already used for a different event ({event.id}); "
            "use a new key for a new event",
            field="idempotency_key",
        )
    return Emitted(event.id, Delivery.select().where(Delivery.event == event.id).count(), replayed=True)


@dataclass(frozen=True)
class EmitItem:
    """One event of a batch; a tenant named by the request is created with its events."""

    tenant: Tenant | NamedTenant
    type_name: object
    data: object
    idempotency_key: str | None = None
    trace: TraceContext | None = None


@contextlib.contextmanager
def batch_item(index: int):
    """Name the batch item an error came from: `events[3].type` rather than `type`."""
    try:
        yield
    except ServiceError as exc:
        exc.field = f"events[{index}].{exc.field}" if exc.field else f"events[{index}]"
        exc.message = f"events[{index}]: {exc.message}"
        exc.args = (exc.message,)
        raise


def emit_events(items: list[EmitItem], settings: Settings, now: datetime) -> list[Emitted]:
    """Accept many events in one transaction, all or none: one commit instead of one per
    event is what makes bulk emitting fast. Each item goes through emit_event unchanged (as
    a savepoint inside this transaction), so the per-event rules live in one place."""
    with write_transaction():
        lookups = Lookups(settings)
        emitted = []
        for index, item in enumerate(items):
            with batch_item(index):
                tenant = for_write(item.tenant, now, lookups.tenants)
                emitted.append(emit_event(tenant, item.type_name, item.data, settings, now, item.idempotency_key,
                                          lookups=lookups, trace=item.trace))
        return emitted


def _canonical(data_text: str) -> str:
    """Key order aside, the same text: `1.10` and `1.1` are different data to a receiver."""
    return jsontext.dumps(jsontext.loads_stored(data_text), sort_keys=True)
