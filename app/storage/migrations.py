"""Numbered schema migrations, each frozen as it shipped.

Nothing here imports `app.storage.models`. Today's models describe the newest schema: a
step 1 that created its tables from them built the newest schema at once, and every later
step then had to ask whether its column already existed. Here step 1 creates the tables as
they were when it shipped, from copies of the models of that day defined below, and every
later step adds exactly what it names, to a database that cannot have it yet.

Databases made before this module existed upgrade unchanged: the code of each day built
step 1 from the models of that day, which held exactly the columns of the steps it had
shipped with (tests/storage/test_migrations.py upgrades a schema made by the code of every
version). Only in the columns' order can such a database differ, which nothing reads, and
one made by the very first commit (07ad43d) also had an unused, nullable
`api_key.last_used_at`, which `api_key_usage` takes up rather than adding it again.

Steps that rewrite data name the columns of their own day through `peewee.Table`, never a
model class, and store values in the format of their day. They use two pure rules of
today: `secret_box` (encryption keys are configuration, not schema) and the credential rule
of `CustomHeaders`, which decides what counts as a secret.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import operator

import peewee
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playhouse.migrate import SchemaMigrator, migrate as apply

from app.rules.custom_headers import CREDENTIAL_WORDS, CustomHeaders
from app.rules.secretbox import secret_box
from app.storage.db import SCHEMA_LOCK, database, exclusive_transaction, is_sqlite


class SchemaVersion(peewee.Model):
    version = peewee.IntegerField()

    class Meta:
        database = database
        table_name = "schema_version"


def _as_shipped(table: str, indexes: tuple = (), **columns: peewee.Field) -> type[peewee.Model]:
    """A table as the step that created it made it. Only what shapes the DDL is copied:
    column types, nullability, keys and indexes; defaults live in Python, not the schema.
    Index names start with the table's name, as the models' do."""
    meta = type("Meta", (), {"database": database, "table_name": table, "legacy_table_names": False,
                             "indexes": indexes})
    return type(table, (peewee.Model,), {"Meta": meta, "__module__": __name__, **columns})


def _id() -> peewee.CharField:
    return peewee.CharField(primary_key=True, max_length=40)


def _tenant_key(null: bool = False) -> peewee.ForeignKeyField:
    return peewee.ForeignKeyField(_TENANT, null=null, on_delete="CASCADE")


# Step 1 (07ad43d, as corrected in 31fbacf before any later step shipped).
_TENANT = _as_shipped("tenant", slug=peewee.CharField(unique=True, max_length=64), created_at=peewee.DateTimeField())
_API_KEY = _as_shipped(
    "api_key", id=_id(), tenant=_tenant_key(null=True), name=peewee.CharField(),
    prefix=peewee.CharField(max_length=16), key_hash=peewee.CharField(unique=True, max_length=64),
    created_at=peewee.DateTimeField(), revoked_at=peewee.DateTimeField(null=True))
_EVENT_TYPE = _as_shipped(
    "event_type", name=peewee.CharField(unique=True, max_length=128), description=peewee.TextField(),
    example=peewee.TextField(null=True), created_at=peewee.DateTimeField(),
    archived_at=peewee.DateTimeField(null=True))
_WEBHOOK = _as_shipped(
    "webhook", id=_id(), tenant=_tenant_key(), name=peewee.CharField(max_length=200), url=peewee.TextField(),
    description=peewee.TextField(), events=peewee.TextField(), enabled=peewee.BooleanField(),
    secret=peewee.TextField(), consecutive_failures=peewee.IntegerField(),
    disabled_reason=peewee.TextField(null=True), created_at=peewee.DateTimeField(),
    updated_at=peewee.DateTimeField())
_EVENT = _as_shipped(
    "event", indexes=((("tenant", "idempotency_key"), True),), id=_id(), tenant=_tenant_key(),
    type=peewee.CharField(max_length=128), data=peewee.TextField(),
    idempotency_key=peewee.CharField(null=True, max_length=255), created_at=peewee.DateTimeField())
_DELIVERY = _as_shipped(
    "delivery",
    indexes=((("event", "webhook"), True), (("status", "next_attempt_at"), False),
             (("status", "lease_expires_at"), False), (("webhook", "created_at"), False)),
    id=_id(), event=peewee.ForeignKeyField(_EVENT, on_delete="CASCADE"),
    webhook=peewee.ForeignKeyField(_WEBHOOK, on_delete="CASCADE"), status=peewee.CharField(max_length=16),
    attempts=peewee.IntegerField(), next_attempt_at=peewee.DateTimeField(null=True),
    lease_expires_at=peewee.DateTimeField(null=True), last_status_code=peewee.IntegerField(null=True),
    last_error=peewee.TextField(null=True), created_at=peewee.DateTimeField(), updated_at=peewee.DateTimeField())
_ATTEMPT = _as_shipped(
    "attempt", indexes=((("delivery", "number"), False),),
    delivery=peewee.ForeignKeyField(_DELIVERY, on_delete="CASCADE"), number=peewee.IntegerField(),
    started_at=peewee.DateTimeField(), duration_ms=peewee.IntegerField(), request_headers=peewee.TextField(),
    response_status=peewee.IntegerField(null=True), response_body=peewee.TextField(null=True),
    error=peewee.TextField(null=True))
_STEP_1 = [_TENANT, _API_KEY, _EVENT_TYPE, _WEBHOOK, _EVENT, _DELIVERY, _ATTEMPT]

# Step 2 (a1ec582): the dashboard's tables.
_USER = _as_shipped(
    "user", tenant=_tenant_key(), name=peewee.CharField(unique=True, max_length=64),
    password_hash=peewee.TextField(), is_admin=peewee.BooleanField(), created_at=peewee.DateTimeField())
_STEP_2 = [
    _USER,
    _as_shipped("server_secret", name=peewee.CharField(primary_key=True, max_length=64), value=peewee.TextField()),
    _as_shipped("portal_token", id=_id(), tenant=_tenant_key(), expires_at=peewee.DateTimeField(),
                used_at=peewee.DateTimeField(null=True)),
]

# Step 4 (2e8fde4): recover runs.
_RECOVERY = _as_shipped(
    "recovery", id=_id(), webhook=peewee.ForeignKeyField(_WEBHOOK, on_delete="CASCADE"),
    since=peewee.DateTimeField(), total=peewee.IntegerField(), created_at=peewee.DateTimeField())

# Step 10 (452f5cc): server-side sessions.
_BROWSER_SESSION = _as_shipped(
    "browser_session", id=peewee.CharField(primary_key=True, max_length=64),
    user=peewee.ForeignKeyField(_USER, null=True, on_delete="CASCADE"), tenant=_tenant_key(null=True),
    created_at=peewee.DateTimeField(), last_seen_at=peewee.DateTimeField(),
    expires_at=peewee.DateTimeField(index=True))


# Step 14 (issue 17): the owners' mail notices.
_MAIL_NOTICE = _as_shipped(
    "mail_notice",
    indexes=((("status", "next_attempt_at"), False), (("webhook", "sent_at"), False)),
    id=_id(), tenant=_tenant_key(), webhook=peewee.ForeignKeyField(_WEBHOOK, on_delete="CASCADE"),
    kind=peewee.CharField(max_length=16), facts=peewee.TextField(), status=peewee.CharField(max_length=16),
    attempts=peewee.IntegerField(), next_attempt_at=peewee.DateTimeField(), lease=peewee.CharField(null=True, max_length=40),
    lease_expires_at=peewee.DateTimeField(null=True), last_error=peewee.TextField(null=True),
    created_at=peewee.DateTimeField(), sent_at=peewee.DateTimeField(null=True))

# Step 19 (issue 16): the request inspector's capture URLs and what they received.
_INSPECTOR_ENDPOINT = _as_shipped(
    "inspector_endpoint", id=_id(), tenant=_tenant_key(), token=peewee.CharField(unique=True, max_length=64),
    name=peewee.CharField(max_length=100), created_at=peewee.DateTimeField(),
    expires_at=peewee.DateTimeField(index=True))
_INSPECTOR_REQUEST = _as_shipped(
    "inspector_request", indexes=((("endpoint", "received_at"), False),), id=_id(),
    endpoint=peewee.ForeignKeyField(_INSPECTOR_ENDPOINT, on_delete="CASCADE"), method=peewee.CharField(max_length=16),
    path=peewee.TextField(), headers=peewee.TextField(), body=peewee.BlobField(), verdicts=peewee.TextField(),
    received_at=peewee.DateTimeField())


def _create(*tables: type[peewee.Model]) -> None:
    database.create_tables(tables, safe=False)


def _add_columns(table: str, **columns: peewee.Field) -> None:
    """A column that may not be NULL gets its default in the rows already there."""
    migrator = SchemaMigrator.from_database(database.obj)
    apply(*(migrator.add_column(table, name, field) for name, field in columns.items()))


def _index(table: str, *columns: str) -> None:
    database.execute_sql(f"CREATE INDEX {table}_{'_'.join(columns)} ON {table} ({', '.join(columns)})")


def _json(value) -> str:
    """JSON text as the JSON columns hold it: compact."""
    return json.dumps(value, separators=(",", ":"))


def create_tables() -> None:
    _create(*_STEP_1)


def dashboard_tables() -> None:
    """Custom request headers per webhook, and the dashboard's users, server secrets and
    portal links."""
    _add_columns("webhook", headers=peewee.TextField(default="{}"))
    _create(*_STEP_2)


def encrypt_secrets() -> None:
    """Signing secrets stored in clear before encryption at rest are encrypted (decrypting
    passes plaintext through, so rerunning this only renews the ciphertexts)."""
    webhook = peewee.Table("webhook", ("id", "secret")).bind(database)
    for row_id, secret in list(webhook.select(webhook.id, webhook.secret).tuples()):
        webhook.update({webhook.secret: secret_box.encrypt(secret_box.decrypt(secret))}).where(
            webhook.id == row_id).execute()


def delivery_semantics() -> None:
    """Rotation grace, payload filters, per-webhook overrides, ordering, payload formats,
    and recover runs."""
    _add_columns(
        "webhook",
        previous_secret=peewee.TextField(null=True),
        previous_secret_expires_at=peewee.DateTimeField(null=True),
        filter=peewee.TextField(null=True),
        timeout=peewee.FloatField(null=True),
        retry_schedule=peewee.TextField(null=True),
        rate_limit=peewee.FloatField(null=True),
        max_in_flight=peewee.IntegerField(null=True),
        ordered=peewee.BooleanField(default=False),
        payload_format=peewee.CharField(max_length=16, default="standard"),
        payload_template=peewee.TextField(null=True),
        last_success_at=peewee.DateTimeField(null=True),
    )
    _add_columns("delivery", recovery=peewee.CharField(null=True, max_length=40))
    _index("delivery", "recovery")
    _create(_RECOVERY)


def recovery_retry_budget() -> None:
    _add_columns("delivery", attempts_before_recovery=peewee.IntegerField(default=0))


def webhook_soft_delete() -> None:
    _add_columns("webhook", deleted_at=peewee.DateTimeField(null=True))


def ordered_delivery_index() -> None:
    """Ordered delivery looks up a webhook's oldest unfinished delivery on every claim."""
    _index("delivery", "webhook_id", "status", "created_at")


def api_key_last4() -> None:
    _add_columns("api_key", last4=peewee.CharField(max_length=4, default=""))


def credential_headers() -> None:
    """Custom headers became secrets: encrypt the credentials saved in clear, in the format
    of this step, `{"X-Team":"billing","Authorization":{"encrypted":"enc1:…"}}`, and mask
    the copies past attempts logged. Until now every header value was stored as text."""
    webhook = peewee.Table("webhook", ("id", "headers")).bind(database)
    for row_id, text in list(webhook.select(webhook.id, webhook.headers).tuples()):
        headers = CustomHeaders(json.loads(text))
        stored = {name: {"encrypted": secret_box.encrypt(value)} if headers.is_secret(name) else value
                  for name, value in headers.items()}
        webhook.update({webhook.headers: _json(stored)}).where(webhook.id == row_id).execute()

    attempt = peewee.Table("attempt", ("id", "request_headers")).bind(database)
    # Only rows whose text has a credential word are read.
    candidates = functools.reduce(operator.or_, (attempt.request_headers ** f"%{word}%" for word in CREDENTIAL_WORDS))
    for row_id, text in list(attempt.select(attempt.id, attempt.request_headers).where(candidates).tuples()):
        logged = json.loads(text)
        masked = CustomHeaders(logged).shown()
        if masked != logged:
            attempt.update({attempt.request_headers: _json(masked)}).where(attempt.id == row_id).execute()


def browser_sessions() -> None:
    _create(_BROWSER_SESSION)
    # Cookies and portal links are signed with keys derived from the encryption key now;
    # the old keys stored here would only help whoever holds a copy of the database.
    server_secret = peewee.Table("server_secret", ("name",)).bind(database)
    server_secret.delete().where(server_secret.name.in_(("session", "portal"))).execute()


def drop_server_secrets() -> None:
    # Nothing has read or written the table since step 10 emptied it.
    database.execute_sql("DROP TABLE server_secret")


def event_trace_context() -> None:
    """Step 12: the W3C trace context an event was emitted with (app/rules/tracecontext.py)."""
    _add_columns("event", traceparent=peewee.CharField(null=True, max_length=55),
                 tracestate=peewee.CharField(null=True, max_length=512))


def delivery_contracts() -> None:
    """Step 13: delivery contracts (app/rules/contracts.py): per webhook and as tenant defaults, the
    signatures, the envelope and the auto-disable rule (JSON texts; NULL: the level above),
    the default headers a webhook drops, a failed-attempt streak, and an Ed25519 key pair
    per webhook for the `ed25519` scheme, encrypted like the secrets. Every webhook gets its
    key pair here, so a contract that turns ed25519 on later finds one; the format of this
    day: `whsk_` + base64 of the 32-byte seed and the 32-byte public key."""
    _add_columns(
        "webhook",
        signatures=peewee.TextField(null=True),
        envelope=peewee.TextField(null=True),
        auto_disable=peewee.TextField(null=True),
        dropped_headers=peewee.TextField(null=True),
        signing_key=peewee.TextField(null=True),
        previous_signing_key=peewee.TextField(null=True),
        consecutive_failed_attempts=peewee.IntegerField(default=0),
    )
    _add_columns(
        "tenant",
        signatures=peewee.TextField(null=True),
        envelope=peewee.TextField(null=True),
        auto_disable=peewee.TextField(null=True),
        retry_schedule=peewee.TextField(null=True),
    )
    webhook = peewee.Table("webhook", ("id", "signing_key")).bind(database)
    for (row_id,) in list(webhook.select(webhook.id).tuples()):
        webhook.update({webhook.signing_key: secret_box.encrypt(_new_signing_key())}).where(
            webhook.id == row_id).execute()


def _new_signing_key() -> str:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "whsk_" + base64.b64encode(private.private_bytes_raw() + public).decode()


def owner_notifications() -> None:
    """Step 14: mail to a tenant's owners about failing webhooks: whom to tell, since when a webhook
    fails, and the outbox of notices."""
    _add_columns("tenant", notify=peewee.TextField(null=True))
    _add_columns("webhook", failing_since=peewee.DateTimeField(null=True))
    _create(_MAIL_NOTICE)


def listen_sessions() -> None:
    """Step 15: ephemeral webhooks of `hookline listen` sessions, and the lease that ends them."""
    _add_columns("webhook", listen_expires_at=peewee.DateTimeField(null=True))


def event_log_indexes() -> None:
    """Step 16: GET /api/v1/events reads one tenant's events newest first, of one type or of all,
    within a time range; with these, a page reads about its own rows (bench/event_queries.py)."""
    _index("event", "tenant_id", "type", "created_at", "id")
    _index("event", "tenant_id", "created_at", "id")


def api_key_usage() -> None:
    """Step 17: who created each key and when it was last used, for the keys page. A database made
    by the first commit (07ad43d) has `last_used_at` already, of this type and never
    written: it is kept."""
    present = {column.name for column in database.get_columns("api_key")}
    last_used = {} if "last_used_at" in present else {"last_used_at": peewee.DateTimeField(null=True)}
    _add_columns("api_key", created_by=peewee.CharField(null=True, max_length=100), **last_used)


def tenant_default_headers() -> None:
    """Step 18: a tenant's default headers for its webhooks (app/rules/contracts.py), as JSON text."""
    _add_columns("tenant", headers=peewee.TextField(null=True))


def request_inspector() -> None:
    """Step 19: the request inspector's test endpoints and the requests they captured."""
    _create(_INSPECTOR_ENDPOINT, _INSPECTOR_REQUEST)


# Append only: each step runs once per database, in order; never edit a shipped step.
STEPS = [
    create_tables,
    dashboard_tables,
    encrypt_secrets,
    delivery_semantics,
    recovery_retry_budget,
    webhook_soft_delete,
    ordered_delivery_index,
    api_key_last4,
    credential_headers,
    browser_sessions,
    drop_server_secrets,
    event_trace_context,
    delivery_contracts,
    owner_notifications,
    listen_sessions,
    event_log_indexes,
    api_key_usage,
    tenant_default_headers,
    request_inspector,
]


def migrate(until: int = len(STEPS)) -> int:
    """Bring the schema to version `until` (the newest unless a test stops earlier); safe
    to run on every start by every process, also at the same time: the first migrates, the
    others wait and find nothing to do."""
    with _sqlite_foreign_keys_off(), exclusive_transaction(SCHEMA_LOCK):
        database.create_tables([SchemaVersion])
        row = SchemaVersion.select().first()
        found = current = row.version if row else 0
        for version, step in enumerate(STEPS[current:until], start=current + 1):
            step()
            current = version
        if row is None:
            SchemaVersion.create(version=current)
        elif found != current:
            SchemaVersion.update(version=current).execute()
        if current != found and is_sqlite() and database.execute_sql("PRAGMA foreign_key_check").fetchone():
            raise RuntimeError("the migrated database has rows whose foreign keys point nowhere")
    return current


@contextlib.contextmanager
def _sqlite_foreign_keys_off():
    """SQLite cannot make a column NOT NULL in place: Peewee's add_column copies the table,
    drops it and renames the copy, and with foreign keys on, dropping `webhook` deleted every
    delivery and attempt through ON DELETE CASCADE (what the steps before this module did to
    a database older than version 5). SQLite's own procedure for changing a table: foreign
    keys off around the transaction (the pragma is ignored inside one), and checked before
    the commit of a transaction that ran a step."""
    if not is_sqlite():
        yield
        return
    database.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        database.execute_sql("PRAGMA foreign_keys = ON")
