"""The engine's data types: what crosses between the queue, the dispatcher, the payload
renderer and the outbound client.

Plain frozen dataclasses, no I/O: the queue makes a `ClaimedDelivery` from the rows it
claims, the renderer turns its `Payload` into a body, the client sends it and answers with
an `AttemptResult`, and the queue records that. Kept apart from all four so that none has
to import another to speak to it (outbound.py used to import them from the queue).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.delivery.policy import Failure
from app.delivery.signed_request import DEFAULT_CONTRACT, Contract
from app.delivery.signing import SigningKeys
from app.rules.contracts import AutoDisable
from app.rules.custom_headers import CustomHeaders
from app.rules.placeholders import Message

# How much of a receiver's answer the attempt log keeps, in characters.
MAX_RESPONSE_BODY_CHARS = 1000


@dataclass(frozen=True, eq=False)
class Payload:
    """What a request body is made of. It is made at send time (app/delivery/payloads.py), not when
    claimed: rendered inside the claim's transaction, on the thread that also commits every tenant's
    emits, one tenant's slow template stalled them all. One per event and webhook (with a
    custom template) or format within a claim, shared by its deliveries, so a fan-out
    renders once; told apart by identity, not by comparing envelopes."""

    envelope: bytes
    payload_format: str
    payload_template: str | None
    tenant_id: int  # whose template: a tenant's renders take turns

    @property
    def is_envelope(self) -> bool:
        """The body is the envelope as stored: nothing to render."""
        return self.payload_template is None and self.payload_format == "standard"


@dataclass(frozen=True)
class ClaimedDelivery:
    """What one send needs, read once at claim time."""

    id: str
    attempts: int
    lease_expires_at: datetime
    event_id: str
    event_type: str
    payload: Payload
    webhook_id: str
    url: str
    secret: str
    headers: CustomHeaders  # in clear for the wire; it masks its secrets for the attempt log
    # The secret before a rotation; it signs too until it expires (checked at send time).
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    # Per-webhook overrides; None: the global request_timeout / retry_schedule.
    timeout: float | None
    retry_schedule: tuple[float, ...] | None
    attempts_before_recovery: int  # a recovered delivery's retry schedule counts attempts made since
    # Pacing, read at each claim so the sender follows edits to the webhook.
    rate_limit: float | None
    max_in_flight: int | None
    ordered: bool
    # The webhook's contract as it applies (webhook > tenant > config > Hookline's), and
    # what its placeholders say: app/delivery/signed_request.py builds the request from both.
    contract: Contract = DEFAULT_CONTRACT
    message: Message | None = None
    signing_key: str | None = field(default=None, repr=False)  # whsk_, for the ed25519 scheme
    previous_signing_key: str | None = field(default=None, repr=False)  # expires with previous_secret
    auto_disable: AutoDisable = AutoDisable()
    # The event's W3C trace context (app/rules/tracecontext.py); None: it was emitted without.
    traceparent: str | None = None
    tracestate: str | None = None

    def signing_keys(self, at: datetime) -> SigningKeys:
        """The secrets and key pairs that sign at `at`, newest first: the previous ones too
        until their grace ends."""
        overlap = self.previous_secret_expires_at is not None and self.previous_secret_expires_at > at
        secrets = (self.secret, self.previous_secret) if overlap and self.previous_secret else (self.secret,)
        keys = (self.signing_key, self.previous_signing_key if overlap else None)
        return SigningKeys(secrets, tuple(key for key in keys if key))


@dataclass(frozen=True)
class AttemptResult:
    """What one send did, as the attempt log records it; a failure is a result, never an exception."""

    started_at: datetime
    duration_ms: int
    request_headers: dict
    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None
    retry_after: float | None = None
    failure: Failure | None = None  # what went wrong, if anything; `error` says it to a person


@dataclass(frozen=True)
class WebhookDisabled:
    """A webhook the engine has just switched off (app/delivery/health.py)."""

    webhook_id: str
    tenant_id: int
    name: str
    url: str
    reason: str
    consecutive_failures: int
    disabled_at: datetime
    failing_since: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class DeliveryFailed:
    """A delivery ended `failed` (its last attempt made, or refused for good), so its
    webhook's failure streak grew to `consecutive_failures`."""

    webhook_id: str
    tenant_id: int
    name: str
    url: str
    consecutive_failures: int
    failing_since: datetime
    delivery_id: str
    event_id: str
    event_type: str
    attempts: int
    last_error: str
    failed_at: datetime


@dataclass(frozen=True)
class StreakGrew:
    """The failure streak that the webhook's auto-disable rule counts grew to `streak` of
    the `threshold` that switches it off: failed deliveries (rule `deliveries`), or failed
    attempts, retries included (rule `attempts`)."""

    webhook_id: str
    tenant_id: int
    name: str
    url: str
    streak: int
    threshold: int
    rule: str
    failing_since: datetime
    last_error: str
    at: datetime


@dataclass(frozen=True)
class WebhookRecovered:
    """A success ended a failure streak of `failures` deliveries."""

    webhook_id: str
    tenant_id: int
    name: str
    url: str
    failures: int
    failing_since: datetime | None
    recovered_at: datetime


# What the engine tells the process's health observer, inside the recording transaction.
HealthChange = DeliveryFailed | StreakGrew | WebhookDisabled | WebhookRecovered
