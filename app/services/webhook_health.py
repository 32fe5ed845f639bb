"""Telling a tenant that one of its webhooks was switched off: the `webhook.disabled`
system event, to the tenant's other webhooks that subscribe to it.

The engine keeps the failure streak and switches a webhook off while it records an attempt
(app/delivery/health.py); it cannot import emitting, which sits above it. The process
wires this function into the dispatcher as its `on_disabled` (app/main.py, app/cli.py),
and the engine calls it inside the transaction that switched the webhook off: the event
commits with the switch-off, or neither does.
"""

from __future__ import annotations

import logging

from app.config import Settings
from app.delivery.types import WebhookDisabled
from app.rules.errors import InvalidInput
from app.services.catalog import DISABLED_EVENT_TYPE
from app.services.events import emit_event
from app.storage.models import Tenant

log = logging.getLogger("hookline.health")


def announce_disabled(disabled: WebhookDisabled, settings: Settings) -> None:
    """Emit `webhook.disabled`. The disabled webhook is no longer enabled, so it is not
    among the receivers. An event that emitting refuses is logged, not raised: the
    switch-off stands either way."""
    data = {
        "id": disabled.webhook_id,
        "name": disabled.name,
        "url": disabled.url,
        "reason": disabled.reason,
        "consecutive_failures": disabled.consecutive_failures,
        "disabled_at": disabled.disabled_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    try:
        emit_event(Tenant.get_by_id(disabled.tenant_id), DISABLED_EVENT_TYPE, data, settings, disabled.disabled_at)
    except InvalidInput as exc:
        log.warning("webhook %s disabled, but no %s event was sent: %s", disabled.webhook_id, DISABLED_EVENT_TYPE,
                    exc.message)
