"""Tables and named queries. No HTTP and no workflow here: services decide, models store."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

import peewee
from peewee import SQL

from app.rules.placeholders import standard_envelope
from app.rules.custom_headers import CustomHeaders
from app.rules.ids import new_id
from app.rules.secretbox import secret_box
from app.storage.db import database, is_sqlite

PENDING, DELIVERING, SUCCEEDED, FAILED = "pending", "delivering", "succeeded", "failed"
# Ended without a send: its webhook was deleted while it waited.
CANCELLED = "cancelled"
DELIVERY_STATUSES = (PENDING, DELIVERING, SUCCEEDED, FAILED, CANCELLED)
# How a webhook's request body is shaped: the signed envelope, or a chat message.
PAYLOAD_FORMATS = ("standard", "slack", "discord", "teams")
# A claim ranks at most this many due rows per row it may take (see Delivery.due).
LOOKAHEAD_PER_ROW = 3


class UTCDateTimeField(peewee.DateTimeField):
    """Aware UTC datetimes in Python, naive UTC in the database (sortable text on SQLite,
    `timestamp without time zone` on PostgreSQL, whose sessions we pin to UTC)."""

    def db_value(self, value):
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value):
        value = super().python_value(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


HOUR_FORMAT = "%Y-%m-%d %H"


def hour_of(column: UTCDateTimeField):
    """The UTC hour a stored time falls in, as `YYYY-MM-DD HH` text (HOUR_FORMAT) on either
    backend, so a count per hour is grouped in SQL rather than row by row in Python."""
    if is_sqlite():  # the naive UTC text `YYYY-MM-DD HH:MM:SS.ffffff`
        hour = peewee.fn.SUBSTR(column, 1, 13)
    else:
        hour = peewee.fn.TO_CHAR(column, SQL("'YYYY-MM-DD HH24'"))  # literal: GROUP BY must repeat it exactly
    return hour.coerce(False)  # text, not read back as the column's datetime


class JSONField(peewee.TextField):
    """Compact JSON text: the same bytes everywhere, readable in any SQL shell."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value):
        return None if value is None else json.loads(value)


class EncryptedTextField(peewee.TextField):
    """Encrypted in the database, plaintext in Python (see app/rules/secretbox.py)."""

    def db_value(self, value):
        return None if value is None else secret_box.encrypt(value)

    def python_value(self, value):
        return None if value is None else secret_box.decrypt(value)


class CustomHeadersField(peewee.TextField):
    """A webhook's custom headers as compact JSON, each secret value encrypted like the
    signing secret: `{"X-Team":"billing","Authorization":{"encrypted":"enc1:…"}}`.

    The row says which values are secret, so a user's choice survives and the rest stays
    readable in any SQL shell. Reading applies the credential rule on top
    (app/rules/custom_headers.py), so a credential saved in clear before this existed is treated
    as secret at once and encrypted the next time the row is written.
    """

    def db_value(self, value):
        if value is None:
            return None
        headers = value if isinstance(value, CustomHeaders) else CustomHeaders(value)
        stored = {name: {"encrypted": secret_box.encrypt(text)} if headers.is_secret(name) else text
                  for name, text in headers.items()}
        return json.dumps(stored, separators=(",", ":"))

    def python_value(self, value):
        if value is None:
            return None
        stored = json.loads(value)
        values = {name: secret_box.decrypt(text["encrypted"]) if isinstance(text, dict) else text
                  for name, text in stored.items()}
        return CustomHeaders(values, secret=[name for name, text in stored.items() if isinstance(text, dict)])


def _id_field(prefix: str) -> peewee.CharField:
    return peewee.CharField(primary_key=True, max_length=40, default=lambda: new_id(prefix))


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class Tenant(BaseModel):
    slug = peewee.CharField(unique=True, max_length=64)
    created_at = UTCDateTimeField()
    # Who gets the owner's mails about failing webhooks; None: the tenant's users whose
    # names are addresses (app/services/notifications.py).
    notify = JSONField(null=True)
    # Contract defaults of the tenant's webhooks (app/rules/contracts.py); None: the
    # installation's. JSON texts, compiled once per distinct text.
    signatures = peewee.TextField(null=True)
    envelope = peewee.TextField(null=True)
    auto_disable = peewee.TextField(null=True)
    retry_schedule = JSONField(null=True)
    headers = peewee.TextField(null=True)  # default headers, merged per name under each webhook's own

    DEFAULT = "default"


class ApiKey(BaseModel):
    id = _id_field("key")
    tenant = peewee.ForeignKeyField(Tenant, null=True, on_delete="CASCADE")  # NULL: admin key
    name = peewee.CharField(default="")
    prefix = peewee.CharField(max_length=16)
    last4 = peewee.CharField(max_length=4, default="")  # empty for keys made before it was kept
    key_hash = peewee.CharField(unique=True, max_length=64)
    created_at = UTCDateTimeField()
    # Who made it, as the keys page shows it: a dashboard user's name, "command line" or
    # "configuration"; None for keys made before it was kept.
    created_by = peewee.CharField(null=True, max_length=100)
    # To the minute (see services/api_keys.KeyCache): None until the key is first used.
    last_used_at = UTCDateTimeField(null=True)
    revoked_at = UTCDateTimeField(null=True)

    @property
    def is_admin(self) -> bool:
        return self.tenant_id is None

    @property
    def hint(self) -> str:
        """Enough to tell keys apart, never enough to use one: `hl_AbC1…x9Qz`."""
        return f"{self.prefix}…{self.last4}"


class EventType(BaseModel):
    name = peewee.CharField(unique=True, max_length=128)
    description = peewee.TextField(default="")
    example = JSONField(null=True)
    created_at = UTCDateTimeField()
    archived_at = UTCDateTimeField(null=True)

    @classmethod
    def active(cls):
        return cls.select().where(cls.archived_at.is_null()).order_by(cls.name)


class Webhook(BaseModel):
    id = _id_field("wh")
    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    name = peewee.CharField(max_length=200)
    url = peewee.TextField()
    description = peewee.TextField(default="")
    events = JSONField(default=lambda: ["*"])
    enabled = peewee.BooleanField(default=True)
    # Extra request headers chosen by the user; signature and framing headers cannot be set.
    # Credentials among them are encrypted and shown masked (app/rules/custom_headers.py).
    headers = CustomHeadersField(default=CustomHeaders)
    secret = EncryptedTextField()
    # After a rotation the old secret also signs, until it expires (receivers switch over).
    previous_secret = EncryptedTextField(null=True)
    previous_secret_expires_at = UTCDateTimeField(null=True)
    # Payload filter rules (app/rules/filters.py); None: every subscribed event.
    filter = JSONField(null=True)
    # Per-webhook overrides of the settings of the same name; None: the global value.
    timeout = peewee.FloatField(null=True)
    retry_schedule = JSONField(null=True)
    rate_limit = peewee.FloatField(null=True)  # deliveries per second to this URL
    max_in_flight = peewee.IntegerField(null=True)  # concurrent requests to this URL
    ordered = peewee.BooleanField(default=False)  # the next event waits for the previous one
    payload_format = peewee.CharField(max_length=16, default="standard")
    payload_template = peewee.TextField(null=True)  # custom Jinja2 (sandboxed) for chat formats
    consecutive_failures = peewee.IntegerField(default=0)
    failing_since = UTCDateTimeField(null=True)  # when the current failure streak began
    # Failed attempts in a row, retries included: counted for the `attempts` auto-disable rule.
    consecutive_failed_attempts = peewee.IntegerField(default=0)
    last_success_at = UTCDateTimeField(null=True)
    # The delivery contract (app/rules/contracts.py) as JSON texts; None: the tenant's.
    signatures = peewee.TextField(null=True)
    envelope = peewee.TextField(null=True)
    auto_disable = peewee.TextField(null=True)
    # Default headers (User-Agent, X-Webhook-Event, X-Webhook-Timestamp) this webhook does not send.
    dropped_headers = JSONField(null=True)
    # The Ed25519 key pair of the `ed25519` scheme (whsk_…); the previous one signs until
    # previous_secret_expires_at, as the previous secret does.
    signing_key = EncryptedTextField(null=True)
    previous_signing_key = EncryptedTextField(null=True)
    disabled_reason = peewee.TextField(null=True)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()
    # Deleted webhooks are kept (hidden, never sent to) so their cancelled deliveries stay
    # in the log.
    deleted_at = UTCDateTimeField(null=True)
    # Set: an ephemeral webhook of a `hookline listen` session, whose deliveries go down its
    # stream, not over HTTP; the session's lease, renewed by the web process holding the
    # stream, and ended by any process once it runs out (app/services/listen_sessions.py).
    listen_expires_at = UTCDateTimeField(null=True)

    @property
    def is_listen_session(self) -> bool:
        return self.listen_expires_at is not None

    @classmethod
    def reencrypt_all(cls) -> int:
        """Rewrite every secret, signing secrets, key pairs and secret header values, with the
        first encryption key (plaintext ones get encrypted)."""
        rows = list(cls.select(cls.id, cls.secret, cls.previous_secret, cls.headers, cls.signing_key,
                               cls.previous_signing_key))
        for row in rows:
            cls.update(secret=row.secret, previous_secret=row.previous_secret, headers=row.headers,
                       signing_key=row.signing_key, previous_signing_key=row.previous_signing_key,
                       ).where(cls.id == row.id).execute()
        return len(rows)

    @classmethod
    def within(cls, query, tenant_id: int | None):
        """Narrow a query that involves webhooks to one tenant; `None` is every tenant."""
        return query if tenant_id is None else query.where(cls.tenant == tenant_id)

    @classmethod
    def enabled_for(cls, tenant_id: int):
        return cls.select().where((cls.tenant == tenant_id) & cls.enabled & cls.deleted_at.is_null())


class Event(BaseModel):
    id = _id_field("evt")
    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    type = peewee.CharField(max_length=128)
    # The event's `data` as compact JSON text, kept verbatim so every retry sends the same bytes.
    data = peewee.TextField()
    idempotency_key = peewee.CharField(null=True, max_length=255)
    created_at = UTCDateTimeField()
    # W3C trace context the producer emitted it with (app/rules/tracecontext.py): every
    # attempt sends a child of `traceparent`, and `tracestate` as it came.
    traceparent = peewee.CharField(null=True, max_length=55)
    tracestate = peewee.CharField(null=True, max_length=512)

    class Meta:
        indexes = (
            (("tenant", "idempotency_key"), True),
            # The event log's pages (app/services/event_log.py): one type, or every type.
            (("tenant", "type", "created_at", "id"), False),
            (("tenant", "created_at", "id"), False),
        )

    def envelope(self) -> bytes:
        return envelope(self.id, self.type, self.created_at, self.data)


# An event's request body under Hookline's own contract (app/rules/contracts.py).
envelope = standard_envelope


def envelope_timestamp(created_at: datetime) -> str:
    """The envelope's `timestamp`: UTC to the microsecond, with a Z."""
    return created_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Delivery(BaseModel):
    id = _id_field("dlv")
    event = peewee.ForeignKeyField(Event, on_delete="CASCADE")
    webhook = peewee.ForeignKeyField(Webhook, on_delete="CASCADE")
    status = peewee.CharField(max_length=16, default=PENDING)
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = UTCDateTimeField(null=True)
    lease_expires_at = UTCDateTimeField(null=True)
    last_status_code = peewee.IntegerField(null=True)
    last_error = peewee.TextField(null=True)
    # The "recover" run that queued this delivery again, for its progress count.
    recovery = peewee.CharField(null=True, max_length=40)
    # Attempts made before the latest recovery. The retry schedule counts from here, so a
    # recovered dead letter gets its whole schedule again while attempt numbers go on.
    attempts_before_recovery = peewee.IntegerField(default=0)
    created_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()

    class Meta:
        indexes = (
            (("event", "webhook"), True),
            (("recovery",), False),
            (("status", "next_attempt_at"), False),
            (("status", "lease_expires_at"), False),
            (("webhook", "created_at"), False),
            # An ordered webhook's oldest unfinished delivery, without reading its history.
            (("webhook", "status", "created_at"), False),
        )

    @classmethod
    def due(cls, now: datetime, per_webhook: int, quotas: Mapping[str, int] | None = None,
            limit: int = 100) -> peewee.SQL:
        """The ids that may be claimed now, round-robin across webhooks: every webhook's
        oldest due row first, then every webhook's second, so one webhook's backlog (or
        endpoints that hang until timeout) cannot take every send slot from the others.

        A webhook gets at most its quota of rows: `quotas[webhook id]` when the sender says
        (its free slots and rate tokens); else its `max_in_flight` or `per_webhook`, and one
        row when it is rate limited (a fresh token bucket holds one token). An ordered
        webhook offers only its oldest unfinished delivery, and only once that is due.

        Turns are dealt among the oldest due rows, LOOKAHEAD_PER_ROW times `limit` of them,
        not all: ranking a backlog of 100k due rows cost 170 ms per claim
        (bench/claim_plan.py), and a fixed 1,000 still cost 2.6 ms per claim of 40 rows
        with 80k waiting (0.74 ms with 300). A backlog older than the lookahead still
        cannot crowd out the rest: its webhook gets at most its quota, and while those are
        in flight the sender holds it back (quota 0, skipped before the lookahead counts)
        and the lookahead moves on to the others.

        Plain SQL, its text made once per database kind: the sender runs it for every
        claim, and building it with Peewee's query objects cost more CPU (1.6 ms) than
        SQLite took to run it. The quotas travel as one JSON parameter, so the text does
        not change with them.

        A listen session's webhook is never offered: the web process that holds its stream
        claims its deliveries itself (app/delivery/listen_push.py).
        """
        stamp = cls.next_attempt_at.db_value
        quotas_json = json.dumps(dict(quotas or {}))
        # In the order of the placeholders in the text.
        lookahead = LOOKAHEAD_PER_ROW * limit
        params = [per_webhook, quotas_json, stamp(now), quotas_json, lookahead, stamp(now), quotas_json, lookahead,
                  limit]
        return SQL(_due_sql(database.param, is_sqlite()), params)

    @classmethod
    def sendable(cls, now: datetime):
        """Due rows of enabled, not deleted webhooks: the queue, before fairness and limits."""
        return cls.select(cls.id).join(Webhook).where(cls.is_due(now), Webhook.enabled, Webhook.deleted_at.is_null())

    @classmethod
    def is_due(cls, now: datetime):
        """Pending and due, or claimed by a process whose lease ran out (it probably died)."""
        return ((cls.status == PENDING) & (cls.next_attempt_at <= now)) | (
            (cls.status == DELIVERING) & (cls.lease_expires_at <= now)
        )

    @classmethod
    def for_webhook(cls, webhook_id: str):
        return (
            cls.select(cls, Event)
            .join(Event)
            .where(cls.webhook == webhook_id)
            .order_by(cls.created_at.desc(), cls.id.desc())
        )


def _quota_table(param: str, sqlite: bool) -> str:
    """(webhook_id, quota) rows from a JSON object parameter."""
    if sqlite:
        return f"SELECT key AS webhook_id, value AS quota FROM json_each({param})"
    return f"SELECT key AS webhook_id, value::int AS quota FROM json_each_text({param}::json)"


@functools.cache
def _due_sql(param: str, sqlite: bool) -> str:
    """See `Delivery.due`; the text depends only on the backend and its parameter style."""

    def oldest(condition: str, order: str) -> str:
        return f"""
            SELECT d.id FROM delivery d JOIN webhook w ON w.id = d.webhook_id
            WHERE {condition} AND w.enabled AND w.deleted_at IS NULL AND w.listen_expires_at IS NULL
              AND (NOT w.ordered OR NOT EXISTS (
                    SELECT 1 FROM delivery older
                    WHERE older.webhook_id = d.webhook_id AND older.status IN ('{PENDING}', '{DELIVERING}')
                      AND (older.created_at < d.created_at OR (older.created_at = d.created_at AND older.id < d.id))))
              AND w.id NOT IN (SELECT webhook_id FROM ({_quota_table(param, sqlite)}) held WHERE quota <= 0)
            ORDER BY {order} LIMIT {param}"""

    # Pending rows and expired leases apart, each walking its own index in order and
    # stopping at the lookahead: one query with `is_due`'s OR sorted every due row first
    # (13 ms per claim with 25,000 waiting).
    return f"""
        SELECT id FROM (
            SELECT d.id, d.next_attempt_at,
                   ROW_NUMBER() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.id) AS turn,
                   COALESCE(q.quota, CASE WHEN w.rate_limit IS NOT NULL THEN 1
                                          ELSE COALESCE(w.max_in_flight, {param}) END) AS quota
            FROM delivery d
            JOIN webhook w ON w.id = d.webhook_id
            LEFT JOIN ({_quota_table(param, sqlite)}) q ON q.webhook_id = d.webhook_id
            WHERE d.id IN ({oldest(f"d.status = '{PENDING}' AND d.next_attempt_at <= {param}", "d.next_attempt_at")})
               OR d.id IN ({oldest(f"d.status = '{DELIVERING}' AND d.lease_expires_at <= {param}", "d.lease_expires_at")})
        ) ranked
        WHERE turn <= quota
        ORDER BY turn, next_attempt_at, id
        LIMIT {param}"""


class Recovery(BaseModel):
    """One "recover" action: every failed delivery of a webhook since a time, sent again."""

    id = _id_field("rcv")
    webhook = peewee.ForeignKeyField(Webhook, on_delete="CASCADE")
    since = UTCDateTimeField()
    total = peewee.IntegerField()
    created_at = UTCDateTimeField()


class Attempt(BaseModel):
    delivery = peewee.ForeignKeyField(Delivery, backref="attempt_rows", on_delete="CASCADE")
    number = peewee.IntegerField()
    started_at = UTCDateTimeField()
    duration_ms = peewee.IntegerField()
    request_headers = JSONField()
    response_status = peewee.IntegerField(null=True)
    response_body = peewee.TextField(null=True)
    error = peewee.TextField(null=True)

    class Meta:
        indexes = ((("delivery", "number"), False),)


class MailNotice(BaseModel):
    """Something the tenant's owners are to be mailed about one webhook (it started failing,
    was disabled, recovered): written in the transaction that recorded the change, sent
    later by the mail job (app/services/notifications.py). The notices of a webhook due
    together go out as one mail, at most one an hour; a send claims them with a lease, as
    deliveries are claimed."""

    id = _id_field("mail")
    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    webhook = peewee.ForeignKeyField(Webhook, on_delete="CASCADE")
    kind = peewee.CharField(max_length=16)  # failing | disabled | recovered
    facts = JSONField()  # what the mail says: name, host, last error, failing since (never a secret)
    status = peewee.CharField(max_length=16, default=PENDING)  # pending | sent
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = UTCDateTimeField()
    lease = peewee.CharField(null=True, max_length=40)
    lease_expires_at = UTCDateTimeField(null=True)
    last_error = peewee.TextField(null=True)
    created_at = UTCDateTimeField()
    sent_at = UTCDateTimeField(null=True)

    class Meta:
        indexes = (
            (("status", "next_attempt_at"), False),
            (("webhook", "sent_at"), False),
        )


class User(BaseModel):
    """A dashboard account. Admins may switch to any tenant; others see their own."""

    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    name = peewee.CharField(unique=True, max_length=64)
    password_hash = peewee.TextField()
    is_admin = peewee.BooleanField(default=False)
    created_at = UTCDateTimeField()


class PortalToken(BaseModel):
    """One row per portal link, so each link opens a session only once."""

    id = _id_field("ptl")
    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    expires_at = UTCDateTimeField()
    used_at = UTCDateTimeField(null=True)


class BrowserSession(BaseModel):
    """A signed-in dashboard session (`user`) or a portal session (`tenant`), so the server
    can end it: sign-out, a password change, a removed user, too long idle or too old.
    The cookie carries a random token and this row only its SHA-256, so the database
    alone cannot recreate a cookie."""

    id = peewee.CharField(primary_key=True, max_length=64)  # hex SHA-256 of the cookie's token
    user = peewee.ForeignKeyField(User, null=True, on_delete="CASCADE")
    tenant = peewee.ForeignKeyField(Tenant, null=True, on_delete="CASCADE")  # portal sessions only
    created_at = UTCDateTimeField()
    last_seen_at = UTCDateTimeField()
    expires_at = UTCDateTimeField(index=True)

    def has_ended(self, now: datetime, idle_timeout: float) -> bool:
        """Past its absolute lifetime, or idle for `idle_timeout`: the same rule as `ended`."""
        return self.expires_at <= now or self.last_seen_at <= now - timedelta(seconds=idle_timeout)

    @classmethod
    def ended(cls, now: datetime, idle_timeout: float):
        return (cls.expires_at <= now) | (cls.last_seen_at <= now - timedelta(seconds=idle_timeout))


class InspectorEndpoint(BaseModel):
    """A capture URL of the request inspector (app/services/inspector.py). The token is the
    capability: whoever holds `/inspect/<token>` may send to it, without a key. It is kept as
    it is (not hashed) because the tenant's page shows the URL on every visit, as a
    webhook's URL is shown; it unlocks nothing but this endpoint's request log."""

    id = _id_field("insp")
    tenant = peewee.ForeignKeyField(Tenant, on_delete="CASCADE")
    token = peewee.CharField(unique=True, max_length=64)
    name = peewee.CharField(max_length=100)
    created_at = UTCDateTimeField()
    expires_at = UTCDateTimeField(index=True)

    @classmethod
    def live(cls, now: datetime):
        return cls.select().where(cls.expires_at > now)


class InspectorRequest(BaseModel):
    """One request a capture URL received, as it came: headers in their order, body bytes."""

    id = _id_field("insr")
    endpoint = peewee.ForeignKeyField(InspectorEndpoint, on_delete="CASCADE")
    method = peewee.CharField(max_length=16)
    path = peewee.TextField()  # with its query string
    headers = JSONField()  # [[name, value], ...], names lower-case
    body = peewee.BlobField()
    # What its signatures said when it arrived: [[verified, text], ...] (services/inspector.py).
    verdicts = JSONField(default=list)
    received_at = UTCDateTimeField()

    class Meta:
        indexes = ((("endpoint", "received_at"), False),)
