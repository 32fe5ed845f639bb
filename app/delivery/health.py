"""A webhook's health after each finished delivery: the failure streak, and switching off
endpoints that are gone or dead.

It runs inside the transaction that records the attempt (`queue.record_results`), so the
counter, the switch-off and the `webhook.disabled` event that tells the tenant's other
webhooks commit together: a crash cannot leave a webhook disabled without anyone told, or
told about a disable that never happened.

The streak and the switch-off are the engine's: they are part of recording an attempt, and
the rule that decides is pure (`policy.auto_disable_reason`). Telling the tenant is not: the
system event is emitted like any other event, by the service that owns emitting. So the
engine does not import it; the process hands it in as `on_disabled`
(`services.webhook_health.announce_disabled`), and it is called here, in the same
transaction, once per webhook this process switched off.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from app.config import Settings
from app.delivery.policy import Outcome, attempts_disable_reason, auto_disable_reason
from app.delivery.types import WebhookDisabled
from app.rules.contracts import AutoDisable
from app.storage.models import FAILED, SUCCEEDED, Delivery, Webhook

# Tells the tenant that a webhook was switched off. An engine built without one (None)
# still switches webhooks off, and tells no one.
OnDisabled = Callable[[WebhookDisabled, Settings], None]


def record_delivery_outcome(
    webhook_id: str, outcome: Outcome, status: str, status_code: int | None, error: str | None,
    now: datetime, settings: Settings, on_disabled: OnDisabled | None, rule: AutoDisable = AutoDisable(),
) -> None:
    """A success ends the streaks; a delivery that ended `failed` extends the deliveries'
    streak, and under the `attempts` rule every failed attempt extends the attempts' streak;
    either may end the webhook. `rule` is the webhook's auto-disable rule as it applies
    (its own, its tenant's or the installation's, resolved at claim)."""
    if outcome is Outcome.SUCCEEDED:
        Webhook.update(consecutive_failures=0, consecutive_failed_attempts=0, last_success_at=now).where(
            Webhook.id == webhook_id).execute()
        return
    if status != FAILED and not rule.counts_attempts:
        return
    streaks = {Webhook.consecutive_failed_attempts: Webhook.consecutive_failed_attempts + 1} if rule.counts_attempts else {}
    if status == FAILED:
        streaks[Webhook.consecutive_failures] = Webhook.consecutive_failures + 1
    Webhook.update(streaks).where(Webhook.id == webhook_id).execute()
    webhook = Webhook.get_or_none(Webhook.id == webhook_id)
    if webhook is None or not webhook.enabled:
        return
    last_error = error or f"HTTP {status_code}"
    if outcome is Outcome.GONE:
        reason = f"The endpoint answered {status_code} Gone on {now:%Y-%m-%d %H:%M} UTC"
    elif rule.counts_attempts:
        reason = attempts_disable_reason(webhook.consecutive_failed_attempts, rule.failures, last_error)
    elif rule.rule == "deliveries" and status == FAILED:
        reason = auto_disable_reason(webhook.consecutive_failures, _quiet_since(webhook), now, rule.failures,
                                     rule.period, last_error)
    else:
        reason = None
    if reason and _disable(webhook, reason, now) and on_disabled is not None:
        on_disabled(WebhookDisabled(webhook.id, webhook.tenant_id, webhook.name, webhook.url, reason,
                                    webhook.consecutive_failures, now), settings)


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


def _disable(webhook: Webhook, reason: str, now: datetime) -> bool:
    """Switch it off; False if another process did first (and told everyone)."""
    return bool(
        Webhook.update(enabled=False, disabled_reason=reason, updated_at=now)
        .where((Webhook.id == webhook.id) & Webhook.enabled)
        .execute()
    )
