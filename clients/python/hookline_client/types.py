"""The values the client returns and takes.

Emits answer with small frozen dataclasses. The other resources are the server's JSON
objects as they come (README "API reference"), typed as TypedDicts so an editor knows the
fields without the client copying each answer into classes of its own: a field the
server adds later is simply there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict


@dataclass(frozen=True)
class Emitted:
    """Hookline stored the event. `deliveries`: how many webhooks will get it; `replayed`:
    an earlier request with the same idempotency key stored it (a retry after a lost
    answer), and `id` is that event's id."""

    id: str
    deliveries: int
    replayed: bool = False


@dataclass(frozen=True)
class Spooled:
    """The event is on the local disk (the spool file, committed) and will be sent in
    order, with this idempotency key, whenever Hookline can be reached. It has no event id
    yet: Hookline gives one when it stores the event."""

    idempotency_key: str


class Event(TypedDict, total=False):
    """One event of `emit_many`: `type` and `data` as for `emit`."""

    type: str
    data: Any
    tenant: str
    idempotency_key: str


class WebhookFields(TypedDict, total=False):
    """What a webhook can be created or changed with; absent: the server's default
    (README "Webhook options"), `None` on update: back to the default."""

    name: str
    description: str
    events: list[str]
    enabled: bool
    headers: dict[str, str]
    secret_headers: list[str]
    filter: dict[str, Any] | None
    timeout: float | str | None
    retry_schedule: list[float | str] | None
    rate_limit: float | None
    max_in_flight: int | None
    ordered: bool
    payload_format: str
    payload_template: str | None


class Webhook(TypedDict):
    id: str
    tenant: str
    name: str
    url: str
    description: str
    events: list[str]
    enabled: bool
    headers: dict[str, str]
    secret_headers: list[str]
    filter: dict[str, Any] | None
    timeout: float | None
    retry_schedule: list[float] | None
    rate_limit: float | None
    max_in_flight: int | None
    ordered: bool
    payload_format: str
    payload_template: str | None
    previous_secret_expires_at: str | None
    disabled_reason: str | None
    consecutive_failures: int
    created_at: str
    updated_at: str


class CreatedWebhook(Webhook):
    """The answer to a create: the only one that shows the signing secret."""

    secret: str


class Delivery(TypedDict):
    id: str
    event_id: str
    event_type: str
    webhook_id: str
    status: str  # pending, delivering, succeeded, failed, cancelled
    attempts: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    created_at: str
    updated_at: str


class Attempt(TypedDict):
    number: int
    started_at: str
    duration_ms: int | None
    request_headers: dict[str, str]
    response_status: int | None
    response_body: str | None
    error: str | None


class DeliveryDetail(Delivery):
    payload: Any
    attempt_log: list[Attempt]


class DeliveryPage(TypedDict):
    data: list[Delivery]
    next_cursor: str | None  # pass as `before` for the next (older) page


class TestSend(TypedDict):
    delivery: Delivery
    attempt: Attempt | None  # None: the first attempt had not finished within the server's wait


class EventType(TypedDict):
    name: str
    description: str
    example: Any
    created_at: str
    archived_at: str | None
