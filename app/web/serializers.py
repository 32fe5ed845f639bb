"""JSON shapes of the API, and how they are written. Secrets appear only where a service
just created them; secret header values are always masked (app/rules/custom_headers.py)."""

from __future__ import annotations

from datetime import datetime

from starlette import responses

from app.config import Settings
from app.delivery.signed_request import installation_defaults
from app.delivery.signing import public_key
from app.rules import contracts, jsontext
from app.storage.models import Attempt, Delivery, EventType, Tenant, Webhook


class JSONResponse(responses.JSONResponse):
    """The API's answers, written by app/rules/jsontext.py: numbers with the digits they were sent
    with, and NaN or Infinity in rows stored before the strict rules as null (JSON has no
    such numbers, and Starlette's JSONResponse raised on them, failing a whole listing)."""

    def render(self, content: object) -> bytes:
        return jsontext.dumps(content, nonfinite_as_null=True).encode("utf-8")


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def webhook_json(webhook: Webhook) -> dict:
    return {
        "id": webhook.id,
        "tenant": webhook.tenant.slug,
        "name": webhook.name,
        "url": webhook.url,
        "description": webhook.description,
        "events": webhook.events,
        "enabled": webhook.enabled,
        # Its own headers (values may hold placeholders), and null for each default one it drops.
        "headers": {**webhook.headers.shown(), **dict.fromkeys(webhook.dropped_headers or ())},
        # Whose values `headers` shows masked: credentials by name, and those marked secret.
        "secret_headers": webhook.headers.secret_names,
        "filter": webhook.filter,
        "timeout": webhook.timeout,
        "retry_schedule": webhook.retry_schedule,
        "rate_limit": webhook.rate_limit,
        "max_in_flight": webhook.max_in_flight,
        "ordered": webhook.ordered,
        "payload_format": webhook.payload_format,
        "payload_template": webhook.payload_template,
        # The contract's parts this webhook sets; null: its tenant's (GET /api/v1/tenants/{tenant}).
        **contracts.shown_parts(webhook.signatures, webhook.envelope, webhook.auto_disable),
        # The ed25519 scheme's verification key: not a secret, receivers need it.
        "public_key": public_key_of(webhook),
        # Until when the secret before the last rotation also signs; null: never rotated, or without grace.
        "previous_secret_expires_at": iso(webhook.previous_secret_expires_at),
        "disabled_reason": webhook.disabled_reason,
        "consecutive_failures": webhook.consecutive_failures,
        "created_at": iso(webhook.created_at),
        "updated_at": iso(webhook.updated_at),
    }


def public_key_of(webhook: Webhook) -> str | None:
    return public_key(webhook.signing_key) if webhook.signing_key else None


def tenant_json(tenant: Tenant, settings: Settings) -> dict:
    """A tenant's defaults for its webhooks (null: not set), and what its webhooks inherit
    where it sets none: the installation's (config.toml) or Hookline's own."""
    installation = installation_defaults(settings)
    return {
        "slug": tenant.slug,
        "created_at": iso(tenant.created_at),
        **contracts.shown_parts(tenant.signatures, tenant.envelope, tenant.auto_disable),
        "retry_schedule": tenant.retry_schedule,
        "inherited": {
            "signatures": contracts.signatures_json(
                contracts.compiled_signatures(installation.layer.signatures) if installation.layer.signatures
                else contracts.DEFAULT_SIGNATURES),
            "envelope": contracts.shown_parts(None, installation.layer.envelope, None)["envelope"],
            "auto_disable": installation.auto_disable.as_json(),
            "retry_schedule": list(settings.retry_schedule),
        },
    }


def delivery_json(delivery: Delivery) -> dict:
    return {
        "id": delivery.id,
        "event_id": delivery.event.id,
        "event_type": delivery.event.type,
        "webhook_id": delivery.webhook_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "updated_at": iso(delivery.updated_at),
    }


def delivery_detail_json(delivery: Delivery, attempts: list[Attempt]) -> dict:
    return {
        **delivery_json(delivery),
        "payload": jsontext.loads_stored(delivery.event.envelope()),
        "attempt_log": [attempt_json(attempt) for attempt in attempts],
    }


def attempt_json(attempt: Attempt) -> dict:
    return {
        "number": attempt.number,
        "started_at": iso(attempt.started_at),
        "duration_ms": attempt.duration_ms,
        "request_headers": attempt.request_headers,
        "response_status": attempt.response_status,
        "response_body": attempt.response_body,
        "error": attempt.error,
    }


def event_type_json(event_type: EventType) -> dict:
    return {
        "name": event_type.name,
        "description": event_type.description,
        "example": event_type.example,
        "created_at": iso(event_type.created_at),
        "archived_at": iso(event_type.archived_at),
    }
