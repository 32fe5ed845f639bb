"""The delivery queue in the database: claim due rows under a lease, record what happened.

Every process (serve or worker) claims with a lease instead of a lock held across the HTTP
request. A process that dies mid-send leaves rows in `delivering` whose lease runs out, and
the next sweep anywhere claims them again: at-least-once, with `webhook-id` for dedupe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from app import formats
from app.config import Settings
from app.db import is_sqlite, write_transaction
from app.models import DELIVERING, FAILED, PENDING, SUCCEEDED, Attempt, Delivery, Event, Webhook
from app.policy import Outcome, classify, retry_policy
from app.services.webhook_health import record_delivery_outcome

MAX_RESPONSE_BODY_CHARS = 1000


@dataclass(frozen=True)
class ClaimedDelivery:
    """What one send needs, read once at claim time."""

    id: str
    attempts: int
    lease_expires_at: datetime
    event_id: str
    event_type: str
    body: bytes
    webhook_id: str
    url: str
    secret: str
    headers: dict
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

    def older_secrets(self, at: datetime) -> tuple[str, ...]:
        """Secrets that still sign at `at` besides the current one."""
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > at:
            return (self.previous_secret,)
        return ()


@dataclass(frozen=True)
class AttemptResult:
    started_at: datetime
    duration_ms: int
    request_headers: dict
    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False  # refused before connecting (forbidden address, invalid URL): retrying cannot help


def claim_due(
    now: datetime,
    limit: int,
    lease_seconds: float,
    per_webhook: int | None = None,
    quotas: Mapping[str, int] | None = None,
) -> list[ClaimedDelivery]:
    """Mark up to `limit` due deliveries as ours until the lease expires, taking turns
    across webhooks and at most a quota per webhook (see `Delivery.due`).

    SQLite: the IMMEDIATE transaction serialises claimers. PostgreSQL: `SKIP LOCKED` lets
    several workers claim disjoint rows at once; it cannot sit beside the window function,
    so it locks the chosen rows in an outer query that checks again that they are due.
    """
    lease = now + timedelta(seconds=lease_seconds)
    due = Delivery.due(now, per_webhook or limit, quotas).limit(limit)
    if not is_sqlite():
        due = (
            Delivery.select(Delivery.id)
            .where(Delivery.id.in_(due) & Delivery.is_due(now))
            .for_update(skip_locked=True, of=Delivery)
        )
    with write_transaction():
        claimed = [
            row.id
            for row in Delivery.update(status=DELIVERING, lease_expires_at=lease, updated_at=now)
            .where(Delivery.id.in_(due))
            .returning(Delivery.id)
            .execute()
        ]
    if not claimed:
        return []
    rows = (
        Delivery.select(Delivery, Event, Webhook)
        .join(Event)
        .switch(Delivery)
        .join(Webhook)
        .where(Delivery.id.in_(claimed))
        .order_by(Delivery.next_attempt_at)
    )
    return [
        ClaimedDelivery(
            id=row.id,
            attempts=row.attempts,
            lease_expires_at=row.lease_expires_at,
            event_id=row.event.id,
            event_type=row.event.type,
            body=formats.request_body(row.webhook.payload_format, row.webhook.payload_template, row.event.envelope()),
            webhook_id=row.webhook.id,
            url=row.webhook.url,
            secret=row.webhook.secret,
            headers=row.webhook.headers,
            previous_secret=row.webhook.previous_secret,
            previous_secret_expires_at=row.webhook.previous_secret_expires_at,
            timeout=row.webhook.timeout,
            retry_schedule=None if row.webhook.retry_schedule is None else tuple(row.webhook.retry_schedule),
            attempts_before_recovery=row.attempts_before_recovery,
            rate_limit=row.webhook.rate_limit,
            max_in_flight=row.webhook.max_in_flight,
            ordered=row.webhook.ordered,
        )
        for row in rows
    ]


def record_results(
    results: list[tuple[ClaimedDelivery, AttemptResult]],
    now: datetime,
    settings: Settings,
    random: Callable[[], float],
) -> list[str]:
    """Log the attempts and move their deliveries on, in one transaction (a group commit:
    a commit per attempt would cap throughput at the disk's commit rate); returns the new
    statuses."""
    with write_transaction():
        # Every process locks webhook rows (health updates) in id order: two group commits
        # taking the same webhooks in opposite orders deadlock on PostgreSQL.
        statuses: list[str] = [""] * len(results)
        for index, (claimed, result) in sorted(enumerate(results), key=lambda item: item[1][0].webhook_id):
            statuses[index] = _record(claimed, result, now, settings, random)
        return statuses


def _record(
    claimed: ClaimedDelivery,
    result: AttemptResult,
    now: datetime,
    settings: Settings,
    random: Callable[[], float],
) -> str:
    outcome = Outcome.FAILED if result.permanent else classify(result.status_code)
    attempts = claimed.attempts + 1
    next_attempt_at = None
    if outcome is Outcome.SUCCEEDED:
        status = SUCCEEDED
    elif outcome is Outcome.RETRY:
        policy = retry_policy(claimed.retry_schedule or settings.retry_schedule, settings.retry_jitter, settings.retry_after_cap)
        next_attempt_at = policy.next_attempt_at(attempts - claimed.attempts_before_recovery, now, random, result.retry_after)
        status = PENDING if next_attempt_at else FAILED
    else:
        status = FAILED
    # Only the holder of the current lease may move the row: if ours expired and another
    # process claimed it meanwhile, its result wins and ours stays in the attempt log.
    moved = (
        Delivery.update(
            status=status,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            lease_expires_at=None,
            last_status_code=result.status_code,
            last_error=result.error,
            updated_at=now,
        )
        .where(
            (Delivery.id == claimed.id)
            & (Delivery.status == DELIVERING)
            & (Delivery.lease_expires_at == claimed.lease_expires_at)
        )
        .execute()
    )
    if moved:
        record_delivery_outcome(claimed.webhook_id, outcome, status, result.status_code, result.error, now, settings)
    elif not Delivery.select().where(Delivery.id == claimed.id).exists():
        return status  # the webhook was deleted while we were sending: nothing to log against
    Attempt.create(
        delivery=claimed.id,
        number=attempts,
        started_at=result.started_at,
        duration_ms=result.duration_ms,
        request_headers=result.request_headers,
        response_status=result.status_code,
        response_body=None if result.response_body is None else result.response_body[:MAX_RESPONSE_BODY_CHARS],
        error=result.error,
    )
    return status


def release_claims(claims: list[ClaimedDelivery], now: datetime) -> int:
    """Give unsent claims back (a process shutting down): due again now, attempts unchanged.
    A claim whose lease changed meanwhile belongs to someone else and is left alone."""
    with write_transaction():
        return sum(
            Delivery.update(status=PENDING, next_attempt_at=now, lease_expires_at=None, updated_at=now)
            .where(
                (Delivery.id == claim.id)
                & (Delivery.status == DELIVERING)
                & (Delivery.lease_expires_at == claim.lease_expires_at)
            )
            .execute()
            for claim in claims
        )


def renew_leases(claims: list[ClaimedDelivery], now: datetime, lease_seconds: float) -> dict[str, datetime]:
    """Extend the leases of claims still being worked on, so that no other process takes
    them over while the one holding them is alive; returns the new lease of each claim
    renewed. One UPDATE per lease value (the claims of one claim share it), guarded by
    that value: a claim missing from the answer ran out and was taken by another process
    (or recorded meanwhile), and keeps the lease it had, so its record moves nothing."""
    lease = now + timedelta(seconds=lease_seconds)
    ids_by_lease: dict[datetime, list[str]] = {}
    for claim in claims:
        ids_by_lease.setdefault(claim.lease_expires_at, []).append(claim.id)
    with write_transaction():
        return {
            row.id: row.lease_expires_at
            for held, ids in ids_by_lease.items()
            for row in Delivery.update(lease_expires_at=lease)
            .where(Delivery.id.in_(ids) & (Delivery.status == DELIVERING) & (Delivery.lease_expires_at == held))
            .returning(Delivery.id, Delivery.lease_expires_at)
            .execute()
        }
