"""A webhook's health after each finished delivery: the failure streak, and switching off
endpoints that are gone or dead.

It runs inside the transaction that records the attempt (`queue.record_results`), so the
counter, the switch-off and whatever tells the tenant (operational events, a notice for
the owner's mail) commit together: a crash cannot leave a webhook disabled without anyone
told, or told about a disable that never happened.

The streak and the switch-off are the engine's: they are part of recording an attempt, and
the rule that decides is pure (`policy.auto_disable_reason`). Telling the tenant is not:
events are emitted, and mail queued, by the services that own them. So the engine does
not import them; the process hands in one health observer
(`services.webhook_health.observe_health`), called here, in the same transaction, with
each change this process made: a delivery that ended failed, a webhook switched off, a
failure streak ended by a success.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

import peewee

from app.config import Settings
from app.delivery.policy import Outcome, attempts_disable_reason, auto_disable_reason
from app.delivery.types import (
    ClaimedDelivery, DeliveryFailed, HealthChange, StreakGrew, WebhookDisabled, WebhookRecovered,
)
from app.rules.contracts import AutoDisable
from app.storage.models import FAILED, SUCCEEDED, Delivery, Webhook

# Tells the tenant about a change of a webhook's health. An engine built without one (None)
# still switches webhooks off, and tells no one.
HealthObserver = Callable[[HealthChange, Settings], None]


def record_delivery_outcome(
    claimed: ClaimedDelivery, outcome: Outcome, status: str, status_code: int | None, error: str | None,
    now: datetime, settings: Settings, observe: HealthObserver | None,
) -> None:
    """A success ends the streaks; a delivery that ended `failed` extends the deliveries'
    streak, and under the `attempts` rule every failed attempt extends the attempts' streak;
    either may end the webhook. The rule is the claim's `auto_disable`: the webhook's own,
    its tenant's or the installation's, resolved at claim."""
    webhook_id, rule = claimed.webhook_id, claimed.auto_disable
    if outcome is Outcome.SUCCEEDED:
        _record_success(webhook_id, now, settings, observe)
        return
    if status != FAILED and not rule.counts_attempts:
        return
    webhook = _extend_streaks(webhook_id, now, status == FAILED, rule.counts_attempts)
    if webhook is None:
        return
    last_error = error or f"HTTP {status_code}"
    if observe is not None:
        _report_failure(webhook, claimed, status, rule, last_error, now, settings, observe)
    if not webhook.enabled:
        return
    if outcome is Outcome.GONE:
        reason = f"The endpoint answered {status_code} Gone on {now:%Y-%m-%d %H:%M} UTC"
    elif rule.counts_attempts:
        reason = attempts_disable_reason(webhook.consecutive_failed_attempts, rule.failures, last_error)
    elif rule.rule == "deliveries" and status == FAILED:
        reason = auto_disable_reason(webhook.consecutive_failures, _quiet_since(webhook), now, rule.failures,
                                     rule.period, last_error)
    else:
        reason = None
    if reason and _disable(webhook, reason, now) and observe is not None:
        observe(WebhookDisabled(webhook.id, webhook.tenant_id, webhook.name, webhook.url, reason,
                                webhook.consecutive_failures, now, webhook.failing_since, last_error), settings)


def _report_failure(webhook: Webhook, claimed: ClaimedDelivery, status: str, rule: AutoDisable, last_error: str,
                    now: datetime, settings: Settings, observe: HealthObserver) -> None:
    """A delivery that ended failed, and the streak the webhook's rule counts, which grew."""
    if status == FAILED:
        observe(DeliveryFailed(webhook.id, webhook.tenant_id, webhook.name, webhook.url, webhook.consecutive_failures,
                               webhook.failing_since, claimed.id, claimed.event_id, claimed.event_type,
                               claimed.attempts + 1, last_error, now), settings)
    if rule.rule != "never":
        streak = webhook.consecutive_failed_attempts if rule.counts_attempts else webhook.consecutive_failures
        observe(StreakGrew(webhook.id, webhook.tenant_id, webhook.name, webhook.url, streak, rule.failures,
                           rule.rule, webhook.failing_since, last_error, now), settings)


def _record_success(webhook_id: str, now: datetime, settings: Settings, observe: HealthObserver | None) -> None:
    """One statement when the webhook was healthy, the common case by far. Ending a streak
    is conditional too: of two processes that both saw it, one reports the recovery, which
    is a success after deliveries failed for good (failed attempts alone were retries)."""
    failing = (Webhook.consecutive_failures > 0) | (Webhook.consecutive_failed_attempts > 0)
    if Webhook.update(last_success_at=now).where((Webhook.id == webhook_id) & ~failing).execute():
        return
    webhook = Webhook.get_or_none(Webhook.id == webhook_id)
    if webhook is None:
        return
    ended = (Webhook.update(consecutive_failures=0, consecutive_failed_attempts=0, last_success_at=now)
             .where((Webhook.id == webhook_id) & failing).execute())
    if ended and webhook.consecutive_failures and observe is not None:
        observe(WebhookRecovered(webhook.id, webhook.tenant_id, webhook.name, webhook.url,
                                 webhook.consecutive_failures, webhook.failing_since, now), settings)


def _extend_streaks(webhook_id: str, now: datetime, delivery_failed: bool, count_attempts: bool) -> Webhook | None:
    """One more failed delivery (and attempt) in a row; the first failure of a streak marks
    when the webhook began failing."""
    streaks = {Webhook.consecutive_failed_attempts: Webhook.consecutive_failed_attempts + 1} if count_attempts else {}
    if delivery_failed:
        streaks[Webhook.consecutive_failures] = Webhook.consecutive_failures + 1
    starts = ((Webhook.consecutive_failures == 0) & (Webhook.consecutive_failed_attempts == 0)) | \
        Webhook.failing_since.is_null()
    streaks[Webhook.failing_since] = peewee.Case(None, [(starts, now)], Webhook.failing_since)
    Webhook.update(streaks).where(Webhook.id == webhook_id).execute()
    return Webhook.get_or_none(Webhook.id == webhook_id)


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
