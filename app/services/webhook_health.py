"""A webhook's health after each finished delivery: the failure streak, and switching off
endpoints that are gone or dead.

It runs inside the transaction that records the attempt, so the counter, the switch-off and
the `webhook.disabled` event that tells the tenant's other webhooks commit together: a crash
cannot leave a webhook disabled without anyone told, or told about a disable that never
happened.
"""

from __future__ import annotations

import logging
from datetime import datetime

from app.config import Settings
from app.rules.errors import InvalidInput
from app.storage.models import FAILED, SUCCEEDED, Delivery, Webhook
from app.delivery.policy import Outcome, auto_disable_reason
from app.services.catalog import DISABLED_EVENT_TYPE
from app.services.events import emit_event

log = logging.getLogger("hookline.health")


def record_delivery_outcome(
    webhook_id: str, outcome: Outcome, status: str, status_code: int | None, error: str | None,
    now: datetime, settings: Settings,
) -> None:
    """A success ends the streak; a delivery that ended `failed` extends it and may end the
    webhook. Retries still pending count for nothing yet."""
    if outcome is Outcome.SUCCEEDED:
        Webhook.update(consecutive_failures=0, last_success_at=now).where(Webhook.id == webhook_id).execute()
        return
    if status != FAILED:
        return
    Webhook.update(consecutive_failures=Webhook.consecutive_failures + 1).where(Webhook.id == webhook_id).execute()
    webhook = Webhook.get_or_none(Webhook.id == webhook_id)
    if webhook is None or not webhook.enabled:
        return
    if outcome is Outcome.GONE:
        reason = f"The endpoint answered {status_code} Gone on {now:%Y-%m-%d %H:%M} UTC"
    else:
        reason = auto_disable_reason(
            webhook.consecutive_failures, _quiet_since(webhook), now,
            settings.auto_disable_failures, settings.auto_disable_period,
            error or f"HTTP {status_code}",
        )
    if reason:
        _disable(webhook, reason, now, settings)


def _quiet_since(webhook: Webhook) -> datetime:
    """The last success: webhooks that predate `last_success_at` find theirs in the log."""
    if webhook.last_success_at is not None:
        return webhook.last_success_at
    newest = (
        Delivery.select(Delivery.updated_at)
        .where((Delivery.webhook == webhook.id) & (Delivery.status == SUCCEEDED))
        .order_by(Delivery.updated_at.desc())
        .first()
    )
    return newest.updated_at if newest else webhook.created_at


def _disable(webhook: Webhook, reason: str, now: datetime, settings: Settings) -> None:
    changed = (
        Webhook.update(enabled=False, disabled_reason=reason, updated_at=now)
        .where((Webhook.id == webhook.id) & Webhook.enabled)
        .execute()
    )
    if not changed:
        return  # another process disabled it first, and told everyone
    data = {
        "id": webhook.id,
        "name": webhook.name,
        "url": webhook.url,
        "reason": reason,
        "consecutive_failures": webhook.consecutive_failures,
        "disabled_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    try:
        # The disabled webhook is no longer enabled, so it is not among the receivers.
        emit_event(webhook.tenant, DISABLED_EVENT_TYPE, data, settings, now)
    except InvalidInput as exc:
        log.warning("webhook %s disabled, but no %s event was sent: %s", webhook.id, DISABLED_EVENT_TYPE, exc.message)
