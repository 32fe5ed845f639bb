"""Delivery logs and manual resend, scoped to a tenant like every read.

The log sorts newest first by (created_at, id); its cursors are app/services/log_positions.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.config import Settings
from app.delivery.signed_request import contract_of, installation_defaults, render_body
from app.rules.clock import parse_instant
from app.rules.errors import Conflict, InvalidInput, NotFound
from app.rules.placeholders import Message
from app.services.log_positions import Page, Position
from app.services.webhooks import get_webhook
from app.storage.db import is_sqlite, write_transaction
from app.storage.listen_notify import deliveries_due
from app.storage.models import DELIVERING, DELIVERY_STATUSES, FAILED, PENDING, Attempt, Delivery, Event, Webhook

MAX_PAGE_SIZE = 100


# The longest text the log's search takes: an id is 30 characters, so anything much longer
# is not one, and is refused rather than sent to the database.
MAX_SEARCH_LENGTH = 64


@dataclass(frozen=True)
class LogFilter:
    """What a log is narrowed to. `search` is an event id (the `webhook-id` a receiver saw)
    or a delivery id, matched exactly; `since` and `until` bound the creation time
    (`since` included, `until` not). Every field None: the whole log."""

    status: str | None = None
    event_type: str | None = None
    search: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self):
        if self.status is not None and self.status not in DELIVERY_STATUSES:
            raise InvalidInput("status", f"must be one of {', '.join(DELIVERY_STATUSES)}")
        if self.search is not None and len(self.search) > MAX_SEARCH_LENGTH:
            raise InvalidInput("search", "is longer than any id: paste an event id (evt_…) or a delivery id (dlv_…)")
        if self.since and self.until and self.until <= self.since:
            raise InvalidInput("until", "must be later than since")

    @classmethod
    def from_text(cls, status: str | None = None, event_type: str | None = None, search: str | None = None,
                  since: str | None = None, until: str | None = None) -> LogFilter:
        """From a query string: blank means not set, times are ISO 8601 (a form's
        datetime-local value such as "2026-12-02T09:30"), read as UTC when they name no offset."""
        def text(value: str | None) -> str | None:
            return (value or "").strip() or None

        since, until = text(since), text(until)
        return cls(text(status), text(event_type), text(search), since and parse_instant(since, "since"),
                   until and parse_instant(until, "until"))

    @property
    def is_set(self) -> bool:
        return any(value is not None for value in (self.status, self.event_type, self.search, self.since, self.until))

    def narrow(self, query):
        if self.status:
            query = query.where(Delivery.status == self.status)
        if self.event_type:
            query = query.where(Event.type == self.event_type)
        if self.search:
            query = query.where((Delivery.id == self.search) | (Delivery.event == self.search))
        if self.since:
            query = query.where(Delivery.created_at >= self.since)
        if self.until:
            query = query.where(Delivery.created_at < self.until)
        return query


def list_deliveries(webhook: Webhook, filters: LogFilter = LogFilter(), limit: int = 50,
                    before: str | None = None) -> Page:
    """Newest first; `before` is the cursor returned with the previous page."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
    query = filters.narrow(Delivery.for_webhook(webhook.id))
    if before:
        query = query.where(Position.parse(before, "before").older(Delivery))
    rows = list(query.limit(limit + 1))
    next_cursor = Position.of(rows[limit - 1]).cursor if len(rows) > limit else None
    return Page(rows[:limit], next_cursor)


def webhook_log(webhook_id: str, tenant_id: int | None, status: str | None = None, event_type: str | None = None,
                limit: int = 50, before: str | None = None) -> Page:
    """One page of a webhook's log, the webhook looked up in the caller's scope."""
    return list_deliveries(get_webhook(webhook_id, tenant_id), LogFilter(status, event_type), limit, before)


@dataclass(frozen=True)
class LogView:
    """What the dashboard's log shows of one page: its rows and each row's newest attempt."""

    webhook: Webhook
    rows: list[Delivery]
    next_cursor: str | None  # None for a page read again (`through`)
    last_attempts: dict[str, Attempt]


def log_view(webhook_id: str, tenant_id: int, limit: int, before: str | None = None, through: str | None = None,
             filters: LogFilter = LogFilter()) -> LogView:
    """The page of the log after `before`, or with `through` the rows of a page shown
    before, read again for its live refresh (see deliveries_between)."""
    webhook = get_webhook(webhook_id, tenant_id)
    if through:
        rows, next_cursor = deliveries_between(webhook, through, before, filters), None
    else:
        page = list_deliveries(webhook, filters, limit, before)
        rows, next_cursor = page.items, page.next_cursor
    return LogView(webhook, rows, next_cursor, last_attempts([d.id for d in rows]))


def has_failed_deliveries(webhook: Webhook) -> bool:
    """Whether "Recover failed deliveries" has anything to do (an index lookup)."""
    return Delivery.select().where((Delivery.webhook == webhook.id) & (Delivery.status == FAILED)).exists()


def get_delivery(delivery_id: str, tenant_id: int | None, lock_webhook: bool = False) -> Delivery:
    """`lock_webhook` (in a write transaction) makes a concurrent change of the webhook, such
    as its deletion, wait for the transaction on PostgreSQL; SQLite lets one writer in anyway."""
    query = Delivery.select(Delivery, Event, Webhook).join(Event).switch(Delivery).join(Webhook)
    if lock_webhook and not is_sqlite():
        query = query.for_update(of=Webhook)
    delivery = Webhook.within(query.where(Delivery.id == delivery_id), tenant_id).first()
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id!r}")
    return delivery


def attempts_of(delivery: Delivery) -> list[Attempt]:
    return list(Attempt.select().where(Attempt.delivery == delivery.id).order_by(Attempt.number))


def delivery_with_attempts(delivery_id: str, tenant_id: int | None) -> tuple[Delivery, list[Attempt]]:
    delivery = get_delivery(delivery_id, tenant_id)
    return delivery, attempts_of(delivery)


def delivery_as_sent(delivery_id: str, tenant_id: int | None, settings: Settings) -> tuple[Delivery, list[Attempt], bytes]:
    """A delivery, its attempts, and the body its receiver gets (`sent_body`)."""
    delivery, attempts = delivery_with_attempts(delivery_id, tenant_id)
    return delivery, attempts, sent_body(delivery, settings)


def sent_body(delivery: Delivery, settings: Settings) -> bytes:
    """The body of a `standard` delivery as its webhook's contract renders it: the same
    bytes the receiver got at every attempt (while the contract is the one it was sent
    with: a changed envelope shows as it is now). A chat format or a payload template is
    made from Hookline's envelope, in a render process: that envelope is shown for them."""
    webhook, event = delivery.webhook, delivery.event
    if webhook.payload_template is not None or webhook.payload_format != "standard":
        return event.envelope()
    contract, _ = contract_of(webhook, installation_defaults(settings))
    return render_body(contract, Message(event.id, event.type, event.created_at, event.data, webhook.tenant.slug,
                                         webhook.id, webhook.name, delivery.id))


def resend_delivery(delivery_id: str, tenant_id: int | None, now: datetime) -> Delivery:
    """Queue one more attempt now, with the same `webhook-id`.

    A retry that was already scheduled is replaced, not joined: the row simply becomes due
    now, so there is never a second send of the same delivery.
    """
    with write_transaction():
        # Checked inside the transaction: a deletion committed in between would leave the
        # delivery pending for a webhook that is never sent to again.
        delivery = get_delivery(delivery_id, tenant_id, lock_webhook=True)
        if delivery.webhook.deleted_at is not None:
            raise Conflict("its webhook was deleted; there is nowhere to send it")
        queued = (
            Delivery.update(status=PENDING, next_attempt_at=now, updated_at=now)
            .where((Delivery.id == delivery.id) & (Delivery.status != DELIVERING))
            .execute()
        )
        if not queued:
            raise Conflict("this delivery is being sent right now; try again when the attempt finishes")
        deliveries_due()
        # Read before commit: a sender in this process may claim the row the moment it is
        # due, and the caller is owed the state its resend made, not whatever came after.
        return get_delivery(delivery_id, tenant_id)


def last_attempts(delivery_ids: list[str]) -> dict[str, Attempt]:
    """The newest attempt of each delivery, for the log's duration column."""
    if not delivery_ids:
        return {}
    rows = Attempt.select().where(Attempt.delivery.in_(delivery_ids)).order_by(Attempt.number)
    return {attempt.delivery_id: attempt for attempt in rows}


def deliveries_between(webhook: Webhook, through: str, before: str | None = None,
                       filters: LogFilter = LogFilter()) -> list[Delivery]:
    """One page of the log read again for a live refresh: the rows from `through` (the
    cursor of the oldest it showed) up to `before` (exclusive; None: up to the newest).

    Bounding a page by positions rather than by a count means a refresh neither repeats rows of
    the next page nor drops rows when newer deliveries arrive; the newest page simply grows.
    """
    query = filters.narrow(Delivery.for_webhook(webhook.id).where(
        Position.parse(through, "through").this_or_newer(Delivery)))
    if before:
        query = query.where(Position.parse(before, "before").older(Delivery))
    return list(query.limit(MAX_PAGE_SIZE))
