"""`hookline listen` sessions as rows: one ephemeral webhook per open stream.

Opening a session creates a webhook of the key's tenant, subscribed to the session's
event patterns and marked by its lease (`Webhook.listen_expires_at`), so the events
fan out to it like to any webhook and the web process holding the stream pushes them
(app/delivery/listen_push.py). Its URL is the CLI's local one, for the dashboard to
show: Hookline never requests it (the CLI does, from the developer's machine), so it gets
no SSRF check, only the shape of an http(s) URL.

Ending a session removes the webhook as a deletion does (the row stays, hidden, for the
log) and cancels what it still had to send. A session whose web process died without
ending it ends once its lease runs out (`end_expired`, run by every hub's tick).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from app.config import Settings
from app.delivery.signing import SECRET_BYTES, SECRET_PREFIX, generate_secret, secret_key
from app.rules.errors import InvalidInput
from app.rules.subscriptions import is_valid_pattern
from app.services.tenants import NamedTenant, for_write
from app.storage.db import write_transaction
from app.storage.models import CANCELLED, DELIVERING, PENDING, Delivery, Tenant, Webhook

MAX_FORWARD_TO = 2000
MAX_PATTERNS = 50
ENDED = "cancelled: the listen session ended"


@dataclass(frozen=True)
class OpenedSession:
    webhook: Webhook
    secret: str


def open_session(
    tenant: Tenant | NamedTenant, events: list[str], forward_to: str, secret: str | None,
    settings: Settings, now: datetime,
) -> OpenedSession:
    """`secret`: the one a reconnecting CLI had, so the local app keeps verifying with the
    secret printed at start; None: a new one."""
    events = _events(events)
    forward_to = _forward_to(forward_to)
    secret = generate_secret() if secret is None else _secret(secret)
    with write_transaction():
        webhook = Webhook.create(
            tenant=for_write(tenant, now), name=f"listen → {forward_to}"[:200], url=forward_to,
            description="hookline listen session", events=events, secret=secret,
            listen_expires_at=now + timedelta(seconds=settings.lease_seconds), created_at=now, updated_at=now,
        )
    return OpenedSession(webhook, secret)


def close_session(webhook_id: str, now: datetime) -> int:
    """Remove the session's webhook and cancel its pending deliveries; how many. A push
    still in flight cannot move its delivery out of `cancelled` (its lease no longer matches)."""
    with write_transaction():
        Webhook.update(deleted_at=now, updated_at=now).where(
            (Webhook.id == webhook_id) & Webhook.listen_expires_at.is_null(False) & Webhook.deleted_at.is_null()
        ).execute()
        return (
            Delivery.update(status=CANCELLED, next_attempt_at=None, lease_expires_at=None, last_error=ENDED,
                            updated_at=now)
            .where((Delivery.webhook == webhook_id) & Delivery.status.in_([PENDING, DELIVERING]))
            .execute()
        )


def end_expired(now: datetime) -> int:
    """End every session whose lease ran out: its stream's process died or lost the
    database for a whole lease. Returns how many ended."""
    expired = [webhook_id for (webhook_id,) in Webhook.select(Webhook.id).where(
        (Webhook.listen_expires_at <= now) & Webhook.deleted_at.is_null()).tuples()]
    for webhook_id in expired:
        close_session(webhook_id, now)
    return len(expired)


def live_sessions(tenant_id: int | None) -> list[Webhook]:
    """Open sessions, newest first; `None`: every tenant's."""
    query = Webhook.select().where(Webhook.listen_expires_at.is_null(False) & Webhook.deleted_at.is_null())
    return list(Webhook.within(query, tenant_id).order_by(Webhook.created_at.desc()))


def _events(value: object) -> list[str]:
    if (not isinstance(value, list) or not value or len(value) > MAX_PATTERNS
            or not all(isinstance(item, str) for item in value)):
        raise InvalidInput("events", f"must be 1-{MAX_PATTERNS} event types or wildcards, such as order.* or *")
    for pattern in value:
        if not is_valid_pattern(pattern):
            raise InvalidInput("events", f"{pattern!r} is not an event type or a wildcard such as \"order.*\"")
    return list(dict.fromkeys(value))


def _forward_to(value: object) -> str:
    problem = "must be an http:// or https:// URL of at most 2000 characters, such as http://localhost:3000/webhooks"
    if not isinstance(value, str) or not value or len(value) > MAX_FORWARD_TO:
        raise InvalidInput("forward_to", problem)
    try:
        parts = urlsplit(value)
    except ValueError:
        raise InvalidInput("forward_to", problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("forward_to", problem)
    return value


def _secret(value: object) -> str:
    problem = "must be a signing secret Hookline made: whsec_ and 32 bytes in base64"
    if not isinstance(value, str) or not value.startswith(SECRET_PREFIX):
        raise InvalidInput("secret", problem)
    try:
        key = secret_key(value)
    except (binascii.Error, ValueError):
        raise InvalidInput("secret", problem) from None
    if len(key) != SECRET_BYTES:
        raise InvalidInput("secret", problem)
    return value
