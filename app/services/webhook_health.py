"""Telling a tenant how its webhooks are doing: operational events to the tenant's webhooks
that subscribe to them, and notices for the owners' mail.

The engine keeps the failure streak and switches a webhook off while it records an attempt
(app/delivery/health.py); it cannot import emitting, which sits above it. The process
wires `observe_health` into the dispatcher (app/sender.py), and the engine calls it inside
the transaction that recorded the change: the events and the mail notice commit with the
change, or none of them does.

Loops are impossible. An operational event about a webhook never goes to that webhook
while it is failing (its streak is above 0, or it was just disabled), and a delivery of an
operational event that ends failed emits no `delivery.exhausted`: a failing receiver of
operational events cannot feed itself, or another failing one, an event per failure.
"""

from __future__ import annotations

import logging
from datetime import datetime

from app.config import Settings
from app.delivery.types import DeliveryFailed, HealthChange, StreakGrew, WebhookDisabled, WebhookRecovered
from app.rules.errors import InvalidInput
from app.rules.subscriptions import OPERATIONAL_TYPES, matches
from app.services import notifications
from app.services.catalog import (
    DISABLED_EVENT_TYPE, EXHAUSTED_EVENT_TYPE, FAILING_EVENT_TYPE, RECOVERED_EVENT_TYPE, SECRET_ROTATED_EVENT_TYPE,
)
from app.services.events import Lookups, emit_event
from app.storage.models import Tenant, Webhook

log = logging.getLogger("hookline.health")

# webhook.failing goes out as a streak reaches these shares of the webhook's switch-off threshold.
FAILING_PERCENTS = (50, 70, 90)


def observe_health(change: HealthChange, settings: Settings) -> None:
    """The dispatcher's health observer: one change, inside the recording transaction."""
    match change:
        case DeliveryFailed():
            _delivery_failed(change, settings)
        case StreakGrew():
            _streak_grew(change, settings)
        case WebhookDisabled():
            announce_disabled(change, settings)
            notifications.queue_notice(change, settings)
        case WebhookRecovered():
            _emit(change.tenant_id, RECOVERED_EVENT_TYPE, {
                **_webhook(change), "failures": change.failures, "failing_since": _time(change.failing_since),
                "recovered_at": _time(change.recovered_at),
            }, settings, change.recovered_at, about=None)
            if change.failures >= settings.notify_failing_after:  # the owners were told it was failing
                notifications.queue_notice(change, settings)


def failing_percent(streak: int, threshold: int) -> int | None:
    """The share of the switch-off threshold this streak just reached, or None.

    Each share is the streak of `floor(threshold * share)`; where two shares fall on the
    same count (a small threshold) that count reports the larger one, and a count of 0
    reports nothing. None when webhooks are never switched off (threshold 0).
    """
    reached = [percent for percent in FAILING_PERCENTS if threshold * percent // 100 == streak]
    return max(reached) if reached and streak > 0 else None


def _delivery_failed(failed: DeliveryFailed, settings: Settings) -> None:
    if failed.event_type not in OPERATIONAL_TYPES:
        _emit(failed.tenant_id, EXHAUSTED_EVENT_TYPE, {
            "id": failed.delivery_id, "webhook_id": failed.webhook_id, "webhook_name": failed.name,
            "event_id": failed.event_id, "event_type": failed.event_type, "attempts": failed.attempts,
            "last_error": failed.last_error, "failed_at": _time(failed.failed_at),
        }, settings, failed.failed_at, about=failed.webhook_id)
    if failed.consecutive_failures == settings.notify_failing_after:
        notifications.queue_notice(failed, settings)


def _streak_grew(grew: StreakGrew, settings: Settings) -> None:
    percent = failing_percent(grew.streak, grew.threshold)
    if percent is not None:
        _emit(grew.tenant_id, FAILING_EVENT_TYPE, {
            **_webhook(grew), "failures": grew.streak, "threshold": grew.threshold, "rule": grew.rule,
            "percent": percent, "failing_since": _time(grew.failing_since), "last_error": grew.last_error,
        }, settings, grew.at, about=grew.webhook_id)


def announce_disabled(disabled: WebhookDisabled, settings: Settings) -> None:
    """Emit `webhook.disabled`. The disabled webhook is no longer enabled, so it is not
    among the receivers."""
    _emit(disabled.tenant_id, DISABLED_EVENT_TYPE, {
        **_webhook(disabled), "reason": disabled.reason, "consecutive_failures": disabled.consecutive_failures,
        "disabled_at": _time(disabled.disabled_at),
    }, settings, disabled.disabled_at, about=disabled.webhook_id)


def announce_secret_rotated(webhook: Webhook, settings: Settings, now: datetime) -> None:
    """Emit `webhook.secret_rotated` in the rotation's transaction; never a secret."""
    _emit(webhook.tenant_id, SECRET_ROTATED_EVENT_TYPE, {
        "id": webhook.id, "name": webhook.name, "url": webhook.url, "rotated_at": _time(now),
        "previous_secret_expires_at": _time(webhook.previous_secret_expires_at),
    }, settings, now, about=webhook.id if webhook.consecutive_failures else None)


def _emit(tenant_id: int, type_name: str, data: dict, settings: Settings, now: datetime, about: str | None) -> None:
    """`about`: the webhook the event is about, while it is failing (it does not get it).

    Only when one of the tenant's webhooks takes it: a dead receiver's backlog ends in a
    `delivery.exhausted` per delivery, and stored for no one that doubled its rows. An
    event that emitting refuses is logged, not raised: the change it reports stands."""
    lookups = Lookups(settings)
    if not any(w.id != about and matches(w.events, type_name) for w in lookups.enabled_webhooks(tenant_id)):
        return
    try:
        emit_event(Tenant.get_by_id(tenant_id), type_name, data, settings, now, excluding=about, lookups=lookups)
    except InvalidInput as exc:
        log.warning("no %s event was sent for webhook %s: %s", type_name, data.get("webhook_id", data.get("id")),
                    exc.message)


def _webhook(change: HealthChange) -> dict:
    return {"id": change.webhook_id, "name": change.name, "url": change.url}


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
