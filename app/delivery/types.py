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
    """A webhook the engine has just switched off (app/delivery/health.py), for whoever tells
    the tenant (the `on_disabled` the process wires in)."""

    webhook_id: str
    tenant_id: int
    name: str
    url: str
    reason: str
    consecutive_failures: int
    disabled_at: datetime
