"""Send a test event to one webhook and report how its first attempt went.

Shared by the API's `POST /webhooks/{id}/test` and the dashboard's "Send test": the event
travels the normal path (stored, claimed, signed, logged), so a passing test means real
events will arrive too.
"""

from __future__ import annotations

import time
from datetime import datetime

import anyio
import anyio.to_thread

from app.config import Settings
from app.rules.errors import Conflict
from app.services.catalog import TEST_EVENT_TYPE, list_event_types
from app.services.events import emit_event
from app.services.webhooks import get_webhook
from app.storage.db import write_transaction
from app.storage.models import Attempt, Delivery, EventType, Webhook

POLL_SECONDS = 0.05


def send_test_event(
    webhook_id: str, tenant_id: int | None, settings: Settings, now: datetime,
    type_name: object = TEST_EVENT_TYPE, data: object = None,
) -> str:
    """Queue the test event for this webhook alone; returns the delivery id.

    The check and the insert are one transaction: a webhook deleted in between would
    otherwise get a delivery after its deletion cancelled the rest, pending for ever.
    """
    with write_transaction():
        webhook = get_webhook(webhook_id, tenant_id, lock=True)
        if not webhook.enabled:
            raise Conflict("this webhook is disabled; enable it before sending a test event")
        if data is None:
            data = {"message": "Test event from Hookline", "webhook_id": webhook.id}
        emitted = emit_event(webhook.tenant, type_name, data, settings, now, only_webhook=webhook)
        return Delivery.get(Delivery.event == emitted.event_id).id


def form_choices(webhook_id: str, tenant_id: int) -> tuple[Webhook, list[EventType]]:
    """What the Send test form offers: the webhook, and the event types to send it."""
    return get_webhook(webhook_id, tenant_id), list_event_types()


async def first_attempt(delivery_id: str, timeout: float) -> Attempt | None:
    """Wait (bounded) for the sender, in this process or a worker, to log the first try."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attempt = await anyio.to_thread.run_sync(Attempt.get_or_none, Attempt.delivery == delivery_id)
        if attempt is not None:
            return attempt
        await anyio.sleep(POLL_SECONDS)
    return None
