"""Webhook endpoints: create, read, change, delete, always within one tenant's scope.

`tenant_id=None` is the admin scope (every tenant). A row outside the caller's scope is
reported as not found, never as forbidden, so ids of other tenants cannot be probed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from app.config import Settings
from app.db import write_transaction
from app.errors import InvalidInput, NotFound
from app.models import CANCELLED, DELIVERING, PENDING, Delivery, EventType, Tenant, Webhook
from app.signing import generate_secret
from app.subscriptions import is_valid_pattern, is_wildcard
from app.urls import UrlRejected, check_webhook_url

EDITABLE = ("name", "url", "description", "events", "enabled", "headers")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
# Hookline sets these itself; a webhook may not change how requests are framed or signed.
RESERVED_HEADERS = ("content-type", "content-length", "content-encoding", "transfer-encoding", "host",
                    "user-agent", "connection", "webhook-", "x-webhook-")
MAX_HEADERS = 20


@dataclass(frozen=True)
class NewWebhook:
    webhook: Webhook
    secret: str


def create_webhook(tenant: Tenant, fields: dict, settings: Settings, now: datetime) -> NewWebhook:
    _reject_unknown(fields, allowed=EDITABLE + ("tenant",))
    url = _url(fields.get("url"), settings)
    values = {
        "name": _name(fields["name"]) if "name" in fields else urlsplit(url).hostname,
        "url": url,
        "description": _description(fields.get("description", "")),
        "events": _events(fields.get("events", ["*"]), settings),
        "enabled": _enabled(fields.get("enabled", True)),
        "headers": _headers(fields.get("headers", {})),
    }
    secret = generate_secret()
    webhook = Webhook.create(tenant=tenant, secret=secret, created_at=now, updated_at=now, **values)
    return NewWebhook(webhook, secret)


def list_webhooks(tenant_id: int | None) -> list[Webhook]:
    return list(Webhook.within(_live().order_by(Webhook.created_at), tenant_id))


def get_webhook(webhook_id: str, tenant_id: int | None) -> Webhook:
    webhook = Webhook.within(_live().where(Webhook.id == webhook_id), tenant_id).first()
    if webhook is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    return webhook


def update_webhook(webhook_id: str, tenant_id: int | None, fields: dict, settings: Settings, now: datetime) -> Webhook:
    _reject_unknown(fields, allowed=EDITABLE)
    parsers = {
        "name": _name,
        "url": lambda value: _url(value, settings),
        "description": _description,
        "events": lambda value: _events(value, settings),
        "enabled": _enabled,
        "headers": _headers,
    }
    changes = {key: parsers[key](value) for key, value in fields.items()}
    with write_transaction():
        webhook = get_webhook(webhook_id, tenant_id)
        for key, value in changes.items():
            setattr(webhook, key, value)
        if changes.get("enabled") is True:
            # A fresh start: the failure streak that may have disabled it is history now.
            webhook.consecutive_failures = 0
            webhook.disabled_reason = None
        webhook.updated_at = now
        webhook.save()
    return webhook


def rotate_secret(webhook_id: str, tenant_id: int | None, now: datetime) -> NewWebhook:
    """A new secret at once; the old one stops working (overlap arrives with issue #4)."""
    secret = generate_secret()
    with write_transaction():
        webhook = get_webhook(webhook_id, tenant_id)
        webhook.secret = secret
        webhook.updated_at = now
        webhook.save(only=[Webhook.secret, Webhook.updated_at])
    return NewWebhook(webhook, secret)


def _live():
    return Webhook.select(Webhook, Tenant).join(Tenant).where(Webhook.deleted_at.is_null())


def delete_webhook(webhook_id: str, tenant_id: int | None, now: datetime) -> None:
    """Hide the webhook and cancel what it still had to send, in one transaction.

    The row stays (marked deleted) so its deliveries stay in the log, the cancelled ones
    included, with the reason. A send in flight finishes; its attempt is logged, but it
    cannot move the delivery out of `cancelled` (its lease no longer matches).
    """
    with write_transaction():
        webhook = get_webhook(webhook_id, tenant_id)
        Webhook.update(deleted_at=now, updated_at=now).where(Webhook.id == webhook.id).execute()
        Delivery.update(
            status=CANCELLED, next_attempt_at=None, lease_expires_at=None,
            last_error="cancelled: the webhook was deleted", updated_at=now,
        ).where((Delivery.webhook == webhook.id) & Delivery.status.in_([PENDING, DELIVERING])).execute()


def _reject_unknown(fields: dict, allowed: tuple[str, ...]) -> None:
    for key in fields:
        if key not in allowed:
            raise InvalidInput(key, f"unknown field (allowed: {', '.join(allowed)})")


def _url(value: object, settings: Settings) -> str:
    try:
        return check_webhook_url(value, settings.allow_http, settings.allow_private_networks)
    except UrlRejected as exc:
        raise InvalidInput("url", str(exc)) from None


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("name", "required: a short label such as \"Billing service\"")
    if len(value) > 200:
        raise InvalidInput("name", "must be at most 200 characters")
    return value.strip()


def _description(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("description", "must be a string")
    if len(value) > 2000:
        raise InvalidInput("description", "must be at most 2000 characters")
    return value


def _enabled(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("enabled", "must be true or false")
    return value


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidInput("headers", "must be an object of header names to values")
    if len(value) > MAX_HEADERS:
        raise InvalidInput("headers", f"at most {MAX_HEADERS} custom headers")
    for name, text in value.items():
        if not HEADER_NAME.match(name):
            raise InvalidInput("headers", f"{name!r} is not a valid header name")
        if name.lower().startswith(RESERVED_HEADERS):
            raise InvalidInput("headers", f"{name!r} is set by Hookline and cannot be overridden")
        if not isinstance(text, str) or len(text) > 1000 or any(c in text for c in "\r\n\0"):
            raise InvalidInput("headers", f"the value of {name!r} must be one line of text, at most 1000 characters")
    return dict(value)


def _events(value: object, settings: Settings) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise InvalidInput("events", "must be a non-empty list of event types, such as [\"order.created\"], [\"order.*\"] or [\"*\"]")
    for pattern in value:
        if not is_valid_pattern(pattern):
            raise InvalidInput("events", f"{pattern!r} is not an event type or a wildcard such as \"order.*\"")
    if settings.auto_register_event_types:
        return list(dict.fromkeys(value))
    exact = {pattern for pattern in value if not is_wildcard(pattern)}
    known = {name for (name,) in EventType.active().select(EventType.name).where(EventType.name.in_(exact)).tuples()}
    unknown = sorted(exact - known)
    if unknown:
        raise InvalidInput("events", f"unknown event type {unknown[0]!r}; see GET /api/v1/event-types")
    return list(dict.fromkeys(value))
