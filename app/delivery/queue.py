"""The delivery queue in the database: claim due rows under a lease, record what happened.

Every process (serve or worker) claims with a lease instead of a lock held across the HTTP
request. A process that dies mid-send leaves rows in `delivering` whose lease runs out, and
the next sweep anywhere claims them again: at-least-once, with `webhook-id` for dedupe.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Callable

import peewee

from app.config import Settings
from app.delivery.health import HealthObserver, record_delivery_outcome
from app.delivery.policy import Outcome, classify, retry_policy
from app.delivery.signed_request import HOOKLINE_DEFAULTS, Contract, Defaults, contract_of
from app.delivery.types import MAX_RESPONSE_BODY_CHARS, AttemptResult, ClaimedDelivery, Payload
from app.rules.contracts import Resolved
from app.rules.placeholders import Message
from app.storage import hotsql
from app.storage.db import is_sqlite, write_transaction
from app.storage.models import (
    DELIVERING, FAILED, PENDING, SUCCEEDED, Attempt, Delivery, Event, Tenant, Webhook, envelope,
)


# What a claim's UPDATE … RETURNING gives back, in this order, for claimed_deliveries.
CLAIM_RETURNING = (Delivery.next_attempt_at, Delivery.id, Delivery.attempts, Delivery.attempts_before_recovery,
                   Delivery.event, Delivery.webhook)


def claim_due(
    now: datetime,
    limit: int,
    lease_seconds: float,
    per_webhook: int | None = None,
    quotas: Mapping[str, int] | None = None,
    defaults: Defaults = HOOKLINE_DEFAULTS,
) -> list[ClaimedDelivery]:
    """Mark up to `limit` due deliveries as ours until the lease expires, taking turns
    across webhooks and at most a quota per webhook (see `Delivery.due`). Each webhook's
    contract is resolved here, from its row and its tenant's read in the same query, over
    the installation's `defaults` (app/delivery/signed_request.py `contract_of`).

    SQLite: the IMMEDIATE transaction serialises claimers. PostgreSQL: `SKIP LOCKED` lets
    several workers claim disjoint rows at once; it cannot sit beside the window function,
    so it locks the chosen rows in an outer query that checks again that they are due.
    """
    lease = now + timedelta(seconds=lease_seconds)
    due = peewee.EnclosedNodeList([Delivery.due(now, per_webhook or limit, quotas, limit)])
    if not is_sqlite():
        due = (
            Delivery.select(Delivery.id)
            .where(Delivery.id.in_(due) & Delivery.is_due(now))
            .for_update(skip_locked=True, of=Delivery)
        )
    return claim(due, lease, now, defaults)


def claim(due: peewee.Node, lease: datetime, now: datetime, defaults: Defaults) -> list[ClaimedDelivery]:
    """Mark the deliveries `due` selects as ours until `lease`, and read what their sends
    need: the sweep's claims and a listen session's (app/delivery/listen_push.py)."""
    with write_transaction():
        claimed = list(
            Delivery.update(status=DELIVERING, lease_expires_at=lease, updated_at=now)
            .where(Delivery.id.in_(due))
            .returning(*CLAIM_RETURNING)
            .tuples()
            .execute()
        )
    return claimed_deliveries(claimed, lease, now, defaults)


def claimed_deliveries(
    claimed: list[tuple], lease: datetime, now: datetime, defaults: Defaults,
) -> list[ClaimedDelivery]:
    """What each claimed row (CLAIM_RETURNING) needs for its send, oldest due first: also
    the claims of listen sessions (app/delivery/listen_push.py)."""
    if not claimed:
        return []
    claimed.sort(key=lambda row: (row[0] or now, row[1]))  # oldest due first, as they were waiting
    # A batch holds few events (fanned out) and fewer webhooks: read each once.
    events = {row[0]: row for row in Event.select(Event.id, Event.type, Event.created_at, Event.data,
                                                  Event.traceparent, Event.tracestate)
              .where(Event.id.in_({row[4] for row in claimed})).tuples()}
    webhooks = {w.id: w for w in Webhook.select(Webhook, Tenant).join(Tenant)
                .where(Webhook.id.in_({row[5] for row in claimed}))}
    contracts: dict[str, tuple[Contract, Resolved]] = {}
    payloads: dict[tuple[str, str], Payload] = {}

    def payload(event_id: str, webhook: Webhook) -> Payload:
        key = (event_id, webhook.id if webhook.payload_template else webhook.payload_format)
        if key not in payloads:
            payloads[key] = Payload(envelope(*events[event_id][:4]), webhook.payload_format, webhook.payload_template,
                                    webhook.tenant_id)
        return payloads[key]

    batch = []
    for _, delivery_id, attempts, attempts_before_recovery, event_id, webhook_id in claimed:
        webhook = webhooks[webhook_id]
        if webhook_id not in contracts:
            contracts[webhook_id] = contract_of(webhook, defaults)
        contract, resolved = contracts[webhook_id]
        event_type, created_at, data = events[event_id][1:4]
        batch.append(ClaimedDelivery(
            id=delivery_id,
            attempts=attempts,
            lease_expires_at=lease,
            event_id=event_id,
            event_type=event_type,
            payload=payload(event_id, webhook),
            webhook_id=webhook_id,
            url=webhook.url,
            secret=webhook.secret,
            headers=webhook.headers,
            previous_secret=webhook.previous_secret,
            previous_secret_expires_at=webhook.previous_secret_expires_at,
            timeout=webhook.timeout,
            retry_schedule=resolved.retry_schedule,
            attempts_before_recovery=attempts_before_recovery,
            rate_limit=webhook.rate_limit,
            max_in_flight=webhook.max_in_flight,
            ordered=webhook.ordered,
            traceparent=events[event_id][4],
            tracestate=events[event_id][5],
            contract=contract,
            message=Message(event_id, event_type, created_at, data, webhook.tenant.slug, webhook_id, webhook.name,
                            delivery_id),
            signing_key=webhook.signing_key,
            previous_signing_key=webhook.previous_signing_key,
            auto_disable=resolved.auto_disable,
        ))
    return batch


# The row moves on only if we still hold its lease: if ours expired and another process
# claimed it meanwhile, its result wins and ours stays in the attempt log.
_MOVE = (Delivery.status, Delivery.attempts, Delivery.next_attempt_at, Delivery.lease_expires_at,
         Delivery.last_status_code, Delivery.last_error, Delivery.updated_at)
_IF_STILL_OURS = (Delivery.status, Delivery.lease_expires_at)
_ATTEMPT = (Attempt.delivery, Attempt.number, Attempt.started_at, Attempt.duration_ms, Attempt.request_headers,
            Attempt.response_status, Attempt.response_body, Attempt.error)


def record_results(
    results: list[tuple[ClaimedDelivery, AttemptResult]],
    now: datetime,
    settings: Settings,
    random: Callable[[], float],
    observe_health: HealthObserver | None = None,
) -> list[str]:
    """Log the attempts and move their deliveries on, in one transaction (a group commit:
    a commit per attempt would cap throughput at the disk's commit rate); returns the new
    statuses. What changes a webhook's health is handed to `observe_health` in that
    transaction (app/delivery/health.py)."""
    with write_transaction():
        steps = [_next_step(claimed, result, now, settings, random) for claimed, result in results]
        # Rows that move the same way go in one statement: when a claim's sends all got the
        # same answer, that is one statement for all of them.
        same_move: dict[tuple, list[str]] = collections.defaultdict(list)
        for (claimed, result), (_, status, next_attempt_at) in zip(results, steps):
            move = (status, claimed.attempts + 1, next_attempt_at, None, result.status_code, result.error, now,
                    DELIVERING, claimed.lease_expires_at)
            same_move[move].append(claimed.id)
        moved = set().union(*(hotsql.update(_MOVE, _IF_STILL_OURS, move, Delivery.id, ids)
                              for move, ids in same_move.items()))
        attempts = []
        healthy: set[str] = set()  # webhooks whose streak this group has reset, nothing failed since
        # Every process locks webhook rows (health updates) in id order: two group commits
        # taking the same webhooks in opposite orders deadlock on PostgreSQL.
        for (claimed, result), (outcome, status, _) in sorted(zip(results, steps), key=lambda item: item[0][0].webhook_id):
            if claimed.id in moved:
                # One reset per webhook and group: the same outcome again changes nothing.
                if not (outcome is Outcome.SUCCEEDED and claimed.webhook_id in healthy):
                    record_delivery_outcome(claimed, outcome, status, result.status_code, result.error,
                                            now, settings, observe_health)
                if outcome is Outcome.SUCCEEDED:
                    healthy.add(claimed.webhook_id)
                elif status == FAILED or claimed.auto_disable.counts_attempts:
                    healthy.discard(claimed.webhook_id)
            elif not Delivery.select().where(Delivery.id == claimed.id).exists():
                continue  # purged while we were sending: nothing to log against
            body = result.response_body
            attempts.append((claimed.id, claimed.attempts + 1, result.started_at, result.duration_ms,
                             claimed.headers.hide_in(result.request_headers), result.status_code,
                             None if body is None else body[:MAX_RESPONSE_BODY_CHARS], result.error))
        hotsql.insert(_ATTEMPT, attempts)
        return [status for _, status, _ in steps]


def _next_step(
    claimed: ClaimedDelivery,
    result: AttemptResult,
    now: datetime,
    settings: Settings,
    random: Callable[[], float],
) -> tuple[Outcome, str, datetime | None]:
    """What the attempt means, the delivery's new status, and when to try again if at all."""
    outcome = classify(result.status_code, result.failure)
    if outcome is Outcome.SUCCEEDED:
        return outcome, SUCCEEDED, None
    if outcome is Outcome.RETRY:
        policy = retry_policy(claimed.retry_schedule or settings.retry_schedule, settings.retry_jitter, settings.retry_after_cap)
        attempts = claimed.attempts + 1 - claimed.attempts_before_recovery
        next_attempt_at = policy.next_attempt_at(attempts, now, random, result.retry_after)
        return outcome, PENDING if next_attempt_at else FAILED, next_attempt_at
    return outcome, FAILED, None


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
            delivery_id: lease
            for held, ids in ids_by_lease.items()
            for delivery_id in hotsql.update((Delivery.lease_expires_at,), _IF_STILL_OURS, (lease, DELIVERING, held),
                                             Delivery.id, ids)
        }
